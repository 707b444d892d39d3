"""Per-object loggers: what a reconcile function logs, read as Kopf's handlers' logs are read.

Where it sits: the controller hands each reconcile an :class:`ObjectLogger` for the object it
reconciles (and logs its own lines about that object through one). Like Kopf's
``ObjectLogger`` (``kopf/_core/actions/loggers.py``), it carries the object's reference in the
records it makes (the ``k8s_ref`` attribute: ``apiVersion``, ``kind``, ``name``, ``uid``,
``namespace``), so that under ``kopf run`` Kopf's own formatter prefixes the message with
``[namespace/name]`` (``[name]`` for a cluster-scoped object), or puts the reference under
``object`` in ``--log-format=json``; ``--no-log-prefix`` leaves it out, as for Kopf's handlers.

Its records can also be posted as Events on the object, as Kopf posts its handlers' records,
following the operator's posting settings (``settings.posting`` of Kopf, read at each record):
a record is posted when posting is ``enabled``, ``loggers`` is on (Kopf's default is off: only
explicit Events are posted), its level is at least ``level`` and the logger shows it at all.
As in Kopf, the reason is ``Logging``; the type is ``Normal`` below WARNING and ``Warning`` from
WARNING up (Kopf's ``Error``, ``Debug`` and ``Fatal`` types are not ones that
``kubectl describe`` and the ``events.k8s.io`` API know). A record with ``extra={"k8s_skip":
True}`` (Kopf's marker) is never posted: the controller's own failure lines are posted as a
Warning Event of their own, with a message that repeats identically across retries, so that
they are counted up rather than posted anew.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final, Protocol

from ._events import EventType

__all__ = ["KOPF_POSTING_DEFAULTS", "LOG_REASON", "ObjectLogger", "PostingSettings", "object_ref",
           "posts_records", "posts_warnings"]

LOG_REASON: Final = "Logging"  # the reason of Kopf's Events made from log records

Post = Callable[[EventType, str, str], None]  # (type, reason, message), in the background


class PostingSettings(Protocol):
    """What is read of Kopf's ``settings.posting`` (``kopf.OperatorSettings().posting``)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def loggers(self) -> bool: ...
    @property
    def level(self) -> int: ...


@dataclasses.dataclass(frozen=True)
class _Posting:
    enabled: bool = True
    loggers: bool = False
    level: int = logging.INFO


# Kopf 1.45's defaults (kopf/_cogs/configs/configuration.py, PostingSettings), for controllers
# that run without Kopf: explicit Events on, log records not posted.
KOPF_POSTING_DEFAULTS: Final[PostingSettings] = _Posting()


def object_ref(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The reference Kopf's per-object loggers put in their records as ``k8s_ref``."""
    metadata = obj.get("metadata") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
            "name": metadata.get("name"), "uid": metadata.get("uid"),
            "namespace": metadata.get("namespace")}


def posts_records(posting: PostingSettings, level: int) -> bool:
    """Whether a log record at ``level`` is posted as an Event under these settings."""
    return bool(posting.enabled and posting.loggers and level >= posting.level)


def posts_warnings(posting: PostingSettings) -> bool:
    """Whether an explicit Warning Event is posted (Kopf's ``kopf.warn`` and
    ``kopf.exception`` check the same: posting enabled, its level at most WARNING)."""
    return bool(posting.enabled and posting.level <= logging.WARNING)


class ObjectLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger whose records carry ``obj`` as Kopf's per-object loggers do (see the module).

    ``extra`` adds attributes to every record; ``post`` posts one Event in the background,
    which happens for records the ``posting`` settings let through (None: never).
    """

    def __init__(
        self, logger: logging.Logger, obj: Mapping[str, Any], *,
        extra: Mapping[str, Any] | None = None, post: Post | None = None,
        posting: PostingSettings = KOPF_POSTING_DEFAULTS,
    ) -> None:
        super().__init__(logger, {**(extra or {}), "k8s_ref": object_ref(obj)})
        self._post = post
        self._posting = posting

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any],
    ) -> tuple[Any, MutableMapping[str, Any]]:
        # The call's own extra is kept, with the adapter's (the stdlib would drop it).
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().log(level, msg, *args, **kwargs)
        skipped = bool((kwargs.get("extra") or {}).get("k8s_skip"))
        if (self._post is None or skipped or not self.isEnabledFor(level)
                or not posts_records(self._posting, level)):
            return
        message = str(msg) % args if args else str(msg)
        self._post("Warning" if level >= logging.WARNING else "Normal", LOG_REASON, message)
