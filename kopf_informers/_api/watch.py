"""The watch stream: JSON lines in, :class:`WatchEvent` tuples (or typed errors) out.

A watch answers with one JSON object per line, ``{"type": ..., "object": ...}``, written in
chunks that have nothing to do with lines: a chunk may end mid-line, mid-character or hold many
lines. :class:`WatchStreamParser` reassembles the lines, whatever the chunking, and skips blank
ones (some proxies send them to keep connections alive). :func:`watch_event` turns a decoded line
into a :class:`WatchEvent`, or raises the typed error of an ``ERROR`` event: a 410 there (the
``resourceVersion`` to resume from was compacted away) is a :class:`~kopf_informers.GoneError`,
and the caller must re-list.

The parser does no I/O, so it is tested on byte strings split at every possible place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from ..errors import ApiConnectionError
from .errors import RequestContext, error_from_status

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


class WatchEvent(NamedTuple):
    """One event of a watch: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK.

    ``object`` is the object as the server sent it. For a BOOKMARK it holds only ``kind``,
    ``apiVersion`` and ``metadata.resourceVersion`` (and, at the end of the initial events of a
    ``sendInitialEvents`` watch, the annotation ``k8s.io/initial-events-end: "true"``).
    """

    type: str
    object: dict[str, Any]


class WatchStreamParser:
    """Reassembles JSON lines from arbitrary chunks. Not thread-safe; one per stream."""

    def __init__(self, context: RequestContext | None = None) -> None:
        self._buffer = bytearray()
        self._context = context or RequestContext("watch", "")

    def feed(self, chunk: bytes) -> list[Any]:
        """Add a chunk; return the objects of the lines it completed (blank lines skipped).

        Raises:
            ApiConnectionError: a completed line is not JSON (the stream is corrupt).
        """
        if b"\n" not in chunk:
            self._buffer += chunk
            return []
        self._buffer += chunk
        *lines, rest = self._buffer.split(b"\n")
        self._buffer = bytearray(rest)
        return [_decode(line, self._context) for line in lines if line.strip()]

    def close(self) -> list[Any]:
        """The stream ended: decode a last line that came without its newline, if any.

        Raises:
            ApiConnectionError: the stream ended in the middle of a line.
        """
        rest, self._buffer = bytes(self._buffer), bytearray()
        return [_decode(rest, self._context, last=True)] if rest.strip() else []

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished line are buffered."""
        return len(self._buffer)


def _decode(line: bytes | bytearray, context: RequestContext, *, last: bool = False) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        where = "the watch stream ended in the middle of a line" if last else \
            "the watch stream sent a line that is not JSON"
        raise ApiConnectionError(f"{where}: {bytes(line[:200])!r}", **context.fields()) from e


def watch_event(raw: Any, context: RequestContext) -> WatchEvent:
    """A decoded line as a :class:`WatchEvent`.

    Raises:
        ApiError: the line is an ``ERROR`` event; the class follows the ``Status``'s ``code``
            (410 → :class:`~kopf_informers.GoneError`, 500 → ``ServerError``, ...).
        ApiConnectionError: the line is not a watch event at all.
    """
    if not (type(raw) is dict or isinstance(raw, Mapping)) or not isinstance(raw.get("type"), str) \
            or not isinstance(raw.get("object"), dict):
        raise ApiConnectionError(
            f"the watch stream sent something that is not an event: {str(raw)[:200]}",
            **context.fields(),
        )
    if raw["type"] == ERROR:
        raise error_from_status(context, raw["object"])
    return WatchEvent(raw["type"], raw["object"])
