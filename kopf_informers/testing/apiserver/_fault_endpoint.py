"""The journal and the faults over HTTP, for tests that drive a server in another process.

- ``GET /_embedded/journal[?since=SEQ]``: ``{"total": N, "entries": [...]}``, every kept request
  (or those numbered after ``SEQ``, so a long run can read the journal in turns and miss
  nothing); entries are :class:`~._faults.JournalEntry` as JSON.
- ``POST /_embedded/faults/<action>`` with a JSON object: ``{"ok": true, "result": ...}``.

=================  ==========================================================================
action             fields (JSON), as the Python method of :class:`~._faults.Faults`
=================  ==========================================================================
``fail``           ``verb``, ``resource``, ``status``; ``count`` (1), ``percent``,
                   ``retryAfter``, ``message``
``latency``        ``seconds``; ``verb`` ("*"), ``resource`` ("*")
``delay-watches``  ``seconds`` (0 ends it); ``resource`` ("*")
``drop-watches``   ``abrupt`` (false); the result is how many watches ended
``expire-history`` (none)
``pause``          ``seconds`` (1): refuse connections that long (at most 600), then listen again
``restart``        (none)
``seed``           ``seed``: restart the random numbers behind percentages
``clear``          (none)
=================  ==========================================================================

The body is hostile until proven otherwise: it is parsed and every field checked for its type
and range before anything changes, and each mistake is a 400 ``Status`` naming the field (an
unknown action is a 404). A pause or a restart begins 50 ms after the answer, so that the
client hears the answer first.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any, TypeVar, overload

import orjson
from aiohttp import web

from ._faults import MAX_COUNT, MAX_RETRY_AFTER, MAX_SECONDS, Faults, Journal
from ._status import ApiStatusError

ANSWER_FIRST = 0.05  # seconds between answering a pause or a restart and doing it
MAX_MESSAGE = 4096  # characters of an injected failure's message
MAX_SEED = 2**63


class _Required:
    """The default of a field that must be given."""


REQUIRED = _Required()
D = TypeVar("D")


class _Fields:
    """One action's JSON fields, taken one at a time with their type and range checked.

    A getter returns the field's value, or its default if the field is absent or null; each
    raises a 400 naming the field. :meth:`done` refuses fields that no getter asked for.
    """

    def __init__(self, action: str, body: dict[str, Any]) -> None:
        self.action = action
        self.body = body
        self.taken: set[str] = set()

    def _bad(self, name: str, expected: str) -> ApiStatusError:
        shown = orjson.dumps(self.body.get(name)).decode()[:100]
        return ApiStatusError(400, f"fault {self.action!r}: field {name!r} must be {expected}, "
                                   f"got {shown}")

    def _given(self, name: str, default: object) -> bool:
        self.taken.add(name)
        if self.body.get(name) is not None:
            return True
        if default is REQUIRED:
            raise ApiStatusError(400, f"fault {self.action!r}: field {name!r} is required")
        return False

    @overload
    def string(self, name: str, default: _Required = REQUIRED, *, limit: int = ...) -> str: ...
    @overload
    def string(self, name: str, default: D, *, limit: int = ...) -> str | D: ...

    def string(self, name: str, default: object = REQUIRED, *, limit: int = 253) -> object:
        if not self._given(name, default):
            return default
        value = self.body[name]
        if not (isinstance(value, str) and 0 < len(value) <= limit):
            raise self._bad(name, f"a non-empty string of at most {limit} characters")
        return value

    @overload
    def integer(self, name: str, low: int, high: int, default: _Required = REQUIRED) -> int: ...
    @overload
    def integer(self, name: str, low: int, high: int, default: D) -> int | D: ...

    def integer(self, name: str, low: int, high: int, default: object = REQUIRED) -> object:
        if not self._given(name, default):
            return default
        value = self.body[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._bad(name, f"an integer from {low} to {high}")
        return value

    @overload
    def number(self, name: str, low: float, high: float, default: _Required = REQUIRED, *,
               low_open: bool = ...) -> float: ...
    @overload
    def number(self, name: str, low: float, high: float, default: D, *,
               low_open: bool = ...) -> float | D: ...

    def number(self, name: str, low: float, high: float, default: object = REQUIRED, *,
               low_open: bool = False) -> object:
        """A finite number in the range (JSON has no NaN or infinity, but 1e999 parses as one)."""
        if not self._given(name, default):
            return default
        value = self.body[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                math.isfinite(value) and (value > low if low_open else value >= low)
                and value <= high):
            bound = f"more than {low:g}" if low_open else f"from {low:g}"
            raise self._bad(name, f"a number {bound} to {high:g}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        if not self._given(name, default):
            return default
        value = self.body[name]
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.body) - self.taken)
        if unknown:
            raise ApiStatusError(400, f"fault {self.action!r}: unknown field "
                                      f"{', '.join(repr(name) for name in unknown)}")


class FaultEndpoint:
    """The ``/_embedded/`` routes of one server, over its faults and its journal."""

    def __init__(self, faults: Faults, journal: Journal) -> None:
        self.faults = faults
        self.journal = journal
        self._actions: dict[str, Callable[[_Fields], Any]] = {
            "fail": self._fail, "latency": self._latency, "delay-watches": self._delay_watches,
            "drop-watches": self._drop_watches, "expire-history": self._expire_history,
            "pause": self._pause, "restart": self._restart, "seed": self._seed,
            "clear": self._clear,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_embedded/journal", self._http_journal)
        app.router.add_post("/_embedded/faults/{action}", self._http_fault)

    async def _http_journal(self, request: web.Request) -> web.Response:
        since = request.query.get("since", "0")
        if not since.isdigit():
            raise ApiStatusError(400, f"journal: 'since' must be a request number, got {since!r}")
        entries = [e.to_json() for e in self.journal.since(int(since))]
        return web.Response(body=orjson.dumps({"total": self.journal.total, "entries": entries}),
                            content_type="application/json")

    async def _http_fault(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        handler = self._actions.get(action)
        if handler is None:
            raise ApiStatusError(404, f"unknown fault action {action!r}: expected one of "
                                      f"{', '.join(self._actions)}")
        fields = _Fields(action, await _json_object(request))
        try:
            result = handler(fields)
        except ValueError as e:  # a range the Faults method checks itself (e.g. an unknown verb)
            raise ApiStatusError(400, f"fault {action!r}: {e}") from e
        return web.Response(body=orjson.dumps({"ok": True, "result": result}),
                            content_type="application/json")

    # -- the actions: check every field first, then act -----------------------------------------

    def _fail(self, fields: _Fields) -> None:
        verb, resource = fields.string("verb"), fields.string("resource")
        status = fields.integer("status", 400, 599)
        count = fields.integer("count", 1, MAX_COUNT, 1)
        percent = fields.number("percent", 0, 100, None, low_open=True)
        retry_after = fields.integer("retryAfter", 0, MAX_RETRY_AFTER, None)
        message = fields.string("message", None, limit=MAX_MESSAGE)
        fields.done()
        self.faults.fail(verb, resource, status, count, percent=percent,
                         retry_after=retry_after, message=message)

    def _latency(self, fields: _Fields) -> None:
        seconds = fields.number("seconds", 0, MAX_SECONDS)
        verb, resource = fields.string("verb", "*"), fields.string("resource", "*")
        fields.done()
        self.faults.add_latency(seconds, verb=verb, resource=resource)

    def _delay_watches(self, fields: _Fields) -> None:
        seconds = fields.number("seconds", 0, MAX_SECONDS)
        resource = fields.string("resource", "*")
        fields.done()
        self.faults.delay_watches(seconds, resource)

    def _drop_watches(self, fields: _Fields) -> int:
        abrupt = fields.boolean("abrupt", False)
        fields.done()
        return self.faults.drop_watches(abrupt=abrupt)

    def _expire_history(self, fields: _Fields) -> None:
        fields.done()
        self.faults.expire_history()

    def _pause(self, fields: _Fields) -> None:
        seconds = fields.number("seconds", 0, MAX_SECONDS, 1.0, low_open=True)
        fields.done()
        loop = asyncio.get_running_loop()
        loop.call_later(ANSWER_FIRST, self.faults.pause)
        loop.call_later(ANSWER_FIRST + seconds, self.faults.resume)

    def _restart(self, fields: _Fields) -> None:
        fields.done()
        asyncio.get_running_loop().call_later(ANSWER_FIRST, self.faults.restart)

    def _seed(self, fields: _Fields) -> None:
        seed = fields.integer("seed", -MAX_SEED, MAX_SEED)
        fields.done()
        self.faults.seed(seed)

    def _clear(self, fields: _Fields) -> None:
        fields.done()
        self.faults.clear()


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object; nothing at all counts as ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiStatusError(400, f"the body is not valid JSON: {e}") from e
    if not isinstance(body, dict):
        raise ApiStatusError(400, f"the body must be a JSON object, got {_json_type(body)}")
    return body


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "null"
