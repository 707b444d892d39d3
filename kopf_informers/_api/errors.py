"""From HTTP answers and transport failures to the typed errors of :mod:`kopf_informers.errors`.

The classes live in the public errors module; this module only decides which one a failure is
and fills it in. Kubernetes says what went wrong twice, in the HTTP status and in the ``Status``
body's ``code`` and ``reason``; the status decides the class, and the reason refines a 409 into
``AlreadyExists``. A watch carries its failures inside the stream as ``ERROR`` events with a
``Status`` object: they become the same classes through :func:`error_from_status`.
"""

from __future__ import annotations

import dataclasses
import email.utils
import time
from collections.abc import Mapping
from typing import Any

import orjson

from .._redaction import redact
from ..errors import (
    AlreadyExistsError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)

_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
    429: TooManyRequestsError,
}


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """Which request this is, for error messages: verb, resource and object."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"verb": self.verb, "resource": self.resource,
                "namespace": self.namespace, "name": self.name}


def error_class(status: int, reason: str) -> type[ApiError]:
    """The class for an HTTP status (and a ``Status`` reason)."""
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExistsError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return ApiError


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_status(
    context: RequestContext, status: Mapping[str, Any], *, http_status: int | None = None,
    retry_after: float | None = None, suffix: str = "",
) -> ApiError:
    """An error from a ``Status`` object (an error body, or a watch stream's ``ERROR`` event).

    The HTTP status wins over the body's ``code`` when both are known: proxies may answer with
    a body of their own.
    """
    code = status.get("code")
    code = http_status if http_status is not None else code if isinstance(code, int) else 500
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "") or "(the server gave no message)"
    details = status.get("details")
    if retry_after is None and isinstance(details, Mapping):
        seconds = details.get("retryAfterSeconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            retry_after = float(seconds)
    cls = error_class(code, reason)
    return cls(message + suffix, status=code, reason=reason, body=status,
               retry_after=retry_after, **context.fields())


def error_from_response(
    context: RequestContext, http_status: int, raw: bytes, *, retry_after_header: str | None,
    suffix: str = "",
) -> ApiError:
    """An error from a failed HTTP answer, whatever its body (a ``Status``, text, nothing)."""
    body: Any = None
    if raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
    if not isinstance(body, Mapping):
        text = raw.decode("utf-8", "replace").strip()[:500]
        body = {"message": text or f"HTTP {http_status} without a Status body"}
    return error_from_status(
        context, body, http_status=http_status, suffix=suffix,
        retry_after=parse_retry_after(retry_after_header),
    )


def connection_error(
    context: RequestContext, server: str, exc: BaseException, *, proxy: str | None = None,
) -> ApiConnectionError:
    """An error for a transport failure (the caller chains the original, or its stand-in:
    :func:`~kopf_informers._redaction.redacted_cause`).

    URLs in the message, the server's, the proxy's and any in the original's text, show no
    credentials (see :mod:`kopf_informers._redaction`).
    """
    cls = ApiTimeoutError if isinstance(exc, TimeoutError) else ApiConnectionError
    what = "timed out talking to" if cls is ApiTimeoutError else "failed to talk to"
    where = f"{server} through the proxy {proxy}" if proxy else server
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return cls(redact(f"{what} {where}: {detail}"), **context.fields())
