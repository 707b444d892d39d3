"""Test affordances of the embedded API server: a request journal and fault injection.

The journal records every request (method, path, query, content type, verb, resource, status,
time), bounded in size, so tests can assert what a client did — e.g. that a reconcile made no GET.
Faults make the server misbehave on purpose, the ways real clusters do: watches dropped, history
compacted (410 Gone on resume), failing requests (409, 429 with Retry-After, 500, 503) for a
number of requests or at a steady rate, added latency, watch streams that lag behind the store,
a paused listener (connections refused), and a restart that keeps all state.

Both are usable from Python (``server.journal``, ``server.faults``; safe to call from the test's
thread while the server runs on its own) and over HTTP under ``/_embedded/`` for out-of-process
use (see ``_fault_endpoint``). One table, :data:`FAULT_ACTIONS`, serves both: each public method
of :class:`Faults` that HTTP may call is declared with :func:`fault_action` and its JSON fields;
a new fault is one decorated method.

Faults hold what they act on — the server's loop, its open watches, its listener and a way to
compact history — not the server itself, so nothing here imports the HTTP layer.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import fnmatch
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from aiohttp import web

from ..apimachinery._status import ApiStatusError
from ..registry._resources import ResourceInfo
from ._listener import Listener
from ._loop import ServerLoop
from ._request_info import RequestInfo
from ._watch import ActiveWatches

JOURNAL_SIZE = 100_000
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*")
# Verb sets by a name: ``fail("write", ...)`` fails every request that changes something.
VERB_ALIASES: dict[str, frozenset[str]] = {
    "write": frozenset({"create", "update", "patch", "delete", "deletecollection"}),
    "read": frozenset({"get", "list", "watch"}),
}
MAX_SECONDS = 600.0  # the longest latency, pause or watch delay: longer is a mistake, not a test
MAX_RETRY_AFTER = 600
MAX_COUNT = 1_000_000_000


@dataclasses.dataclass(slots=True)  # one per request: slots make it cheaper to fill
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
    seq: int = 0  # 1 for the server's first request, counting those that fell off the journal
    user: str = ""  # who asked, after impersonation ("" if nobody authenticated)
    groups: tuple[str, ...] = ()
    decision: str = ""  # "allow", "deny" (403) or "unauthenticated" (401)
    reason: str = ""  # the authorizer's (RBAC: which binding allowed, or why nothing did)

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
            time=time.time(), started=time.monotonic(), seq=self.total + 1,
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

    def since(self, seq: int) -> list[JournalEntry]:
        """Entries after the one numbered ``seq`` (0: all kept), for reading a journal in turns.

        A reader that keeps the last ``seq`` it saw misses nothing unless more than the journal's
        size came in between; ``total`` minus the first returned ``seq`` tells it so.
        """
        entries = list(self._entries)
        if not entries or entries[-1].seq <= seq:
            return []
        skip = max(0, seq - entries[0].seq + 1)
        return entries[skip:]

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



# -- the rules ------------------------------------------------------------------------------------


def parse_verbs(verb: str) -> frozenset[str]:
    """``"patch"``, ``"create,update"``, ``"write"``, ``"read"`` or ``"*"`` as a set of verbs.

    Raises:
        ValueError: naming the first word that is neither a verb nor an alias.
    """
    verbs: set[str] = set()
    for word in (w.strip() for w in verb.split(",")):
        if word in VERB_ALIASES:
            verbs |= VERB_ALIASES[word]
        elif word in VERBS:
            verbs.add(word)
        else:
            known = ", ".join((*VERBS, *VERB_ALIASES))
            raise ValueError(f"unknown verb {word!r} in {verb!r}: expected one or more of "
                             f"{known}, separated by commas")
    return frozenset(verbs)


def _resource_names(group: str, version: str, plural: str) -> set[str]:
    """Every way a fault may name a resource: ``plural``, ``plural.group``, ``g/v/plural``."""
    names = {plural, f"{group}/{version}/{plural}" if group else f"{version}/{plural}"}
    if group:
        names.add(f"{plural}.{group}")
    return names


def _matches(verbs: frozenset[str], resource: str, info: RequestInfo) -> bool:
    if "*" not in verbs and info.verb not in verbs:
        return False
    if resource == "*":
        return True
    names = _resource_names(info.group, info.version, info.plural)
    names.add(info.resource)
    return resource in names


def _check_seconds(what: str, seconds: float, *, zero: bool) -> float:
    """A finite number of seconds up to :data:`MAX_SECONDS` (0 allowed if ``zero``)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {seconds!r}")
    low_ok = seconds >= 0 if zero else seconds > 0
    if not (math.isfinite(seconds) and low_ok and seconds <= MAX_SECONDS):
        bound = "0" if zero else "more than 0"
        raise ValueError(f"{what} must be from {bound} to {MAX_SECONDS:g} seconds, got {seconds}")
    return float(seconds)


@dataclasses.dataclass
class _Failure:
    verb: str  # as given: for messages
    verbs: frozenset[str]
    resource: str
    status: int
    remaining: int | None  # None: steady, at `percent`
    percent: float | None
    retry_after: int | None
    message: str | None


@dataclasses.dataclass
class _Latency:
    seconds: float
    verbs: frozenset[str]
    resource: str


# -- the actions, as Python and HTTP both name them ----------------------------------------------


class Required:
    """The default of a field that must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = Required()
MAX_MESSAGE = 4096  # characters of an injected failure's message
MAX_SEED = 2**63


@dataclasses.dataclass(frozen=True)
class Field:
    """One JSON field of a fault action over HTTP, checked for its type and range there.

    ``kind`` is ``string`` (``limit`` characters), ``integer`` or ``number`` (from ``low`` to
    ``high``, above ``low`` if ``low_open``) or ``boolean``; ``arg`` is the keyword of the
    Python method when it is not the field's name.
    """

    name: str
    kind: str
    low: float = 0
    high: float = 0
    default: object = REQUIRED
    low_open: bool = False
    limit: int = 253
    arg: str | None = None


@dataclasses.dataclass(frozen=True)
class FaultAction:
    """A fault as ``POST /_embedded/faults/<name>`` runs it: a :class:`Faults` method and its
    fields. ``answer_first``: it begins a moment after the answer, which it would cut off."""

    name: str
    method: str
    fields: tuple[Field, ...]
    answer_first: bool = False


FAULT_ACTIONS: dict[str, FaultAction] = {}
F = TypeVar("F", bound=Callable[..., Any])


def fault_action(name: str, *fields: Field, answer_first: bool = False) -> Callable[[F], F]:
    """Declare a :class:`Faults` method as the HTTP action ``name`` with these JSON fields."""
    def register(method: F) -> F:
        FAULT_ACTIONS[name] = FaultAction(name, method.__name__, fields, answer_first)
        return method
    return register


class Faults:
    """Fault injection for one embedded server. Every method is safe from any thread.

    Args:
        loop: the server's loop, where rules that touch connections are applied.
        watches: the server's open watches (dropped, delayed, woken).
        listener: the server's listening socket (paused, resumed, restarted).
        expire_history: compacts all history (see :meth:`expire_history`).
        seed: the seed of the random numbers behind percentages (:meth:`seed` changes it);
            None seeds from the system, as :class:`random.Random` does.
    """

    def __init__(
        self, *, loop: ServerLoop, watches: ActiveWatches, listener: Listener,
        expire_history: Callable[[], None], seed: int | None = None,
    ) -> None:
        self._loop = loop
        self._watches = watches
        self._listener = listener
        self._expire_history = expire_history
        self._lock = threading.Lock()  # the rules are read on the server's loop, set anywhere
        self._random = random.Random(seed)
        self._failures: list[_Failure] = []
        self._latencies: list[_Latency] = []
        self._watch_delays: dict[str, float] = {}  # resource (or "*") -> seconds

    # -- requests -------------------------------------------------------------------------------

    @fault_action(
        "fail", Field("verb", "string"), Field("resource", "string"),
        Field("status", "integer", 400, 599), Field("count", "integer", 1, MAX_COUNT, 1),
        Field("percent", "number", 0, 100, None, low_open=True),
        Field("retryAfter", "integer", 0, MAX_RETRY_AFTER, None, arg="retry_after"),
        Field("message", "string", default=None, limit=MAX_MESSAGE),
    )
    def fail(
        self, verb: str, resource: str, status: int, count: int = 1, *,
        percent: float | None = None, retry_after: int | None = None, message: str | None = None,
    ) -> None:
        """Answer matching requests with ``status``: the next ``count``, or ``percent`` of all.

        ``verb`` is a Kubernetes verb (get, list, watch, create, update, patch, delete,
        deletecollection), several separated by commas (``"create,patch"``), an alias —
        ``write`` (create, update, patch, delete, deletecollection) or ``read`` (get, list,
        watch) — or ``*``; ``resource`` is a plural (``configmaps``), ``plural.group``,
        ``group/version/plural`` (``v1/configmaps`` for the core group), with ``/subresource``
        if need be (``foos/status``), or ``*``. A 429 gets a ``Retry-After`` header
        (``retry_after`` seconds, 1 by default).

        With ``percent`` (more than 0, at most 100), each matching request fails with that
        probability, drawn from the seeded random numbers, until :meth:`clear`: a steady failure
        rate, so ``count`` must stay 1. Rules apply in the order they were added; a request
        that a steady rule lets pass goes on to the next rule.

        Raises:
            ValueError: on an unknown verb or an argument out of its range.
        """
        verbs = parse_verbs(verb)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"status {status!r} is not an HTTP error status (400-599)")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            raise ValueError(f"count must be from 1 to {MAX_COUNT}, got {count!r}")
        if percent is not None:
            if isinstance(percent, bool) or not isinstance(percent, int | float) or not (
                    math.isfinite(percent) and 0 < percent <= 100):
                raise ValueError(f"percent must be more than 0 and at most 100, got {percent!r}")
            if count != 1:
                raise ValueError("count and percent exclude each other: a percentage fails "
                                 "matching requests until the faults are cleared")
        if retry_after is not None and (
                isinstance(retry_after, bool) or not isinstance(retry_after, int)
                or not 0 <= retry_after <= MAX_RETRY_AFTER):
            raise ValueError(f"retry_after must be from 0 to {MAX_RETRY_AFTER} seconds, "
                             f"got {retry_after!r}")
        if status == 429 and retry_after is None:
            retry_after = 1
        failure = _Failure(verb, verbs, resource, status, None if percent is not None else count,
                           None if percent is None else float(percent), retry_after, message)
        with self._lock:
            self._failures.append(failure)

    @fault_action("seed", Field("seed", "integer", -MAX_SEED, MAX_SEED))
    def seed(self, seed: int) -> None:
        """Restart the random numbers behind percentages from ``seed``, for repeatable runs."""
        with self._lock:
            self._random.seed(seed)

    @fault_action(
        "latency", Field("seconds", "number", 0, MAX_SECONDS),
        Field("verb", "string", default="*"), Field("resource", "string", default="*"),
    )
    def add_latency(self, seconds: float, *, verb: str = "*", resource: str = "*") -> None:
        """Delay every matching request by ``seconds`` (at most 600) before it is served."""
        seconds = _check_seconds("latency", seconds, zero=True)
        latency = _Latency(seconds, parse_verbs(verb), resource)
        with self._lock:
            self._latencies.append(latency)

    @fault_action("clear")
    @fault_action("clear")
    def clear(self) -> None:
        """Forget all failures, latencies and watch delays; lagging watches catch up at once."""
        with self._lock:
            self._failures.clear()
            self._latencies.clear()
        self._set_watch_delays({})

    def take_failure(self, info: RequestInfo) -> ApiStatusError | None:
        """The failure this request is to get, if any (counting it against its rule)."""
        if not self._failures:  # no rules: nothing to take (an append is atomic; no lock)
            return None
        with self._lock:
            for failure in self._failures:
                if not _matches(failure.verbs, failure.resource, info):
                    continue
                if failure.percent is not None:
                    if self._random.random() * 100 >= failure.percent:
                        continue
                else:
                    assert failure.remaining is not None
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                message = failure.message or (
                    f"injected failure: {info.verb} {info.resource} answered {failure.status}"
                )
                return ApiStatusError(failure.status, message, retry_after=failure.retry_after)
        return None

    def latency_for(self, info: RequestInfo) -> float:
        if not self._latencies:
            return 0.0
        with self._lock:
            return sum(x.seconds for x in self._latencies if _matches(x.verbs, x.resource, info))

    # -- watch streams --------------------------------------------------------------------------

    @fault_action(
        "delay-watches", Field("seconds", "number", 0, MAX_SECONDS),
        Field("resource", "string", default="*"),
    )
    def delay_watches(self, seconds: float, resource: str = "*") -> None:
        """Deliver every event of matching watches ``seconds`` late, until :meth:`clear`.

        It applies to open watches and to those opened later: each event, in order, and each
        BOOKMARK (so that no client learns of a newer resourceVersion early) reaches the client
        ``seconds`` after the server would have sent it; a watch's replayed events count from
        the watch's start. ``resource`` is named as for :meth:`fail` (no subresources); when
        several delays match a watch, the longest applies. ``delay_watches(0, resource)`` ends
        that delay: whatever is held back is sent at once. Lists and gets are not delayed, so
        a client that relists sees the present.

        Raises:
            ValueError: if ``seconds`` is negative, not finite or more than 600.
        """
        seconds = _check_seconds("the watch delay", seconds, zero=True)
        with self._lock:
            delays = dict(self._watch_delays)
        if seconds:
            delays[resource] = seconds
        else:
            delays.pop(resource, None)
        self._set_watch_delays(delays)

    def _set_watch_delays(self, delays: dict[str, float]) -> None:
        def apply() -> None:
            self._watch_delays = delays
            self._watches.wake()  # a shorter delay sends held-back events now
        self._loop.call_soon(apply)

    def watch_delay_for(self, res: ResourceInfo) -> float:
        """The seconds events of a watch of ``res`` are held back (0: sent as they come)."""
        delays = self._watch_delays
        if not delays:
            return 0.0
        names = {"*", *_resource_names(res.group, res.version, res.plural)}
        return max((seconds for name, seconds in delays.items() if name in names), default=0.0)

    # -- connections and history ----------------------------------------------------------------

    @fault_action("drop-watches", Field("abrupt", "boolean", default=False))
    def drop_watches(self, *, abrupt: bool = False) -> int:
        """End every open watch now (cleanly, or by closing the connection); returns how many."""
        return self._loop.call_soon(lambda: self._watches.end(abrupt=abrupt))

    @fault_action("expire-history")
    def expire_history(self) -> None:
        """Compact all history: a watch resuming from any older resourceVersion gets 410 Gone,
        and continue tokens of paginated lists expire."""
        self._loop.call_soon(self._expire_history)

    @fault_action("pause", Field("seconds", "number", 0, MAX_SECONDS, 1.0, low_open=True),
                  answer_first=True)
    def pause(self, seconds: float | None = None) -> None:
        """Stop listening and drop every connection: clients get 'connection refused'.

        With ``seconds`` (more than 0, at most 600; the server must be running), listen again
        after that long; else until :meth:`resume`.
        """
        if seconds is not None:
            seconds = _check_seconds("the pause", seconds, zero=False)

        def pause() -> None:
            self._listener.close()
            if seconds is not None:
                asyncio.get_running_loop().call_later(seconds, self._listener.reopen)
        self._loop.call_soon(pause)

    def resume(self) -> None:
        """Listen again on the same port, after :meth:`pause`."""
        self._loop.call_soon(self._listener.reopen)

    @fault_action("restart", answer_first=True)
    def restart(self) -> None:
        """Drop every connection and watch and listen again on the same port; state is kept."""
        def restart() -> None:
            self._listener.close()
            self._listener.reopen()
        self._loop.call_soon(restart)
