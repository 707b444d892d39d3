"""The journal and the faults over HTTP, for tests that drive a server in another process.

- ``GET /_embedded/journal[?since=SEQ]``: ``{"total": N, "entries": [...]}``, every kept request
  (or those numbered after ``SEQ``, so a long run can read the journal in turns and miss
  nothing); entries are :class:`~._faults.JournalEntry` as JSON.
- ``POST /_embedded/faults/<action>`` with a JSON object: ``{"ok": true, "result": ...}``.

The actions and their fields are :data:`~._faults.FAULT_ACTIONS`, declared on the methods of
:class:`~._faults.Faults` they call: ``fail`` (``verb``, ``resource``, ``status``; ``count``,
``percent``, ``retryAfter``, ``message``), ``latency``, ``delay-watches``, ``drop-watches`` (the
result is how many watches ended), ``expire-history``, ``pause`` (``seconds``, 1 by default:
refuse connections that long), ``restart``, ``seed``, ``clear``.

The body is hostile until proven otherwise: it is parsed and every field checked for its type
and range before anything changes, and each mistake is a 400 ``Status`` naming the field (an
unknown action is a 404). A pause or a restart begins 50 ms after the answer, so that the
client hears the answer first.
"""

from __future__ import annotations

import asyncio
import functools
import math
from typing import Any, TypeVar, overload

import orjson
from aiohttp import web

from ..apimachinery._status import ApiStatusError
from ._faults import FAULT_ACTIONS, REQUIRED, FaultAction, Faults, Field, Journal, Required

ANSWER_FIRST = 0.05  # seconds between answering a pause or a restart and doing it
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
    def string(self, name: str, default: Required = REQUIRED, *, limit: int = ...) -> str: ...
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
    def integer(self, name: str, low: int, high: int, default: Required = REQUIRED) -> int: ...
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
    def number(self, name: str, low: float, high: float, default: Required = REQUIRED, *,
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

    def take(self, field: Field) -> object:
        """The value of ``field``, checked as it declares."""
        if field.kind == "string":
            return self.string(field.name, field.default, limit=field.limit)
        if field.kind == "integer":
            return self.integer(field.name, int(field.low), int(field.high), field.default)
        if field.kind == "number":
            return self.number(field.name, field.low, field.high, field.default,
                               low_open=field.low_open)
        assert field.kind == "boolean", field
        assert isinstance(field.default, bool), field
        return self.boolean(field.name, field.default)

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
        declared = FAULT_ACTIONS.get(action)
        if declared is None:
            raise ApiStatusError(404, f"unknown fault action {action!r}: expected one of "
                                      f"{', '.join(FAULT_ACTIONS)}")
        fields = _Fields(action, await _json_object(request))
        try:
            result = self._act(declared, fields)
        except ValueError as e:  # a range the Faults method checks itself (e.g. an unknown verb)
            raise ApiStatusError(400, f"fault {action!r}: {e}") from e
        return web.Response(body=orjson.dumps({"ok": True, "result": result}),
                            content_type="application/json")

    def _act(self, action: FaultAction, fields: _Fields) -> Any:
        """Check every field first, then act (a moment after answering, if it must)."""
        kwargs = {field.arg or field.name: fields.take(field) for field in action.fields}
        fields.done()
        method = functools.partial(getattr(self.faults, action.method), **kwargs)
        if action.answer_first:
            asyncio.get_running_loop().call_later(ANSWER_FIRST, method)
            return None
        return method()


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
