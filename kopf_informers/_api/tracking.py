"""What one unit of work asked of the API: its writes, and what the server said of one object.

The controller opens a :class:`RequestLog` around each reconcile (a context variable, so it
follows the reconcile into every request it makes through any :class:`ApiClient`, and into
tasks it starts). The session reports each request to the log in force, if any. The controller
learns from it, without wrapping or changing the client the reconcile function was given:

- how many writes the reconcile attempted (a reconcile that writes every time it runs, because
  its own writes keep being undone, is a hot loop and is slowed down);
- whether the server contradicted the cached primary: a 404 on a request for it (it may be
  gone), or an answer about it carrying another uid (it was deleted and created again under the
  same name). The cache then lags behind the server, and acting on it would write children for
  an owner that no longer exists.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import RequestContext

__all__ = ["RequestLog", "record_answer", "record_failure", "record_request", "watching"]

WRITE_VERBS = frozenset({"create", "replace", "patch", "delete", "deletecollection"})


@dataclasses.dataclass
class RequestLog:
    """Requests of one unit of work, as far as the object ``resource`` ``namespace/name`` with
    ``uid`` (the cached primary) is concerned."""

    resource: str
    namespace: str | None
    name: str
    uid: str | None
    writes: int = 0
    not_found: bool = False  # a request for the object answered 404
    other_uid: str | None = None  # the server answered with the object under another uid
    # resourceVersions of the object in answers to writes: changes made by this unit of work.
    own_versions: set[str] = dataclasses.field(default_factory=set)

    def is_about(self, context: RequestContext) -> bool:
        return (context.resource == self.resource and context.name == self.name
                and (context.namespace or None) == (self.namespace or None))


_current: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar(
    "kopf_informers_request_log", default=None)


@contextlib.contextmanager
def watching(log: RequestLog) -> Iterator[RequestLog]:
    """Report the requests made inside the block (and by tasks started in it) to ``log``."""
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def record_request(context: RequestContext) -> None:
    """A request is about to be sent (counted whatever its outcome)."""
    log = _current.get()
    if log is not None and context.verb in WRITE_VERBS:
        log.writes += 1


def record_failure(context: RequestContext, status: int) -> None:
    log = _current.get()
    if log is not None and status == 404 and log.is_about(context):
        log.not_found = True


def record_answer(context: RequestContext, body: Mapping[str, Any]) -> None:
    log = _current.get()
    if log is None or log.uid is None or not log.is_about(context):
        return
    meta = body.get("metadata")
    if not isinstance(meta, Mapping) or body.get("kind") == "Status":
        return  # a delete may answer with a Status: it says nothing of the object itself
    uid = meta.get("uid")
    if isinstance(uid, str) and uid and uid != log.uid:
        log.other_uid = uid
    version = meta.get("resourceVersion")
    if context.verb in WRITE_VERBS and isinstance(version, str):
        log.own_versions.add(version)
