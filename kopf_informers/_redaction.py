"""Credentials out of URLs, before a URL (or a text holding one) is logged or raised.

A kubeconfig may hold basic-auth credentials in its server URL (``http://user:pass@host``), a
proxy URL may too, and some URLs carry a token in their query (``?access_token=...``). Errors
and log lines name the server, and the HTTP stack's own errors quote whole URLs: every such
text goes through :func:`redact` first, which keeps what helps to debug (scheme, host, port,
path, the names of query parameters) and replaces the credentials with ``***``, as Go's
``url.URL.Redacted()`` does with a password (here the whole userinfo goes: a token is often
passed as the user name).

It works on any text, not only on a bare URL, since exception messages embed URLs anywhere.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "RedactedCause", "redact", "redacted_cause"]

REDACTED = "***"

# A scheme, "://", then the userinfo: everything up to the authority's last "@" (passwords
# are not always percent-encoded), never beyond the authority's end ("/", "?", "#") or a space.
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#]*@")
# A query parameter whose name says it is secret; its value ends at "&", "#", a space or a quote.
_SECRET_PARAMETER = re.compile(
    r"([?&;][^=&#\s]*(?:token|secret|passw|pwd|key|sig|auth|credential|session)[^=&#\s]*=)"
    r"[^&#\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with the userinfo of every URL in it, and the values of query parameters named
    like secrets (``token``, ``access_token``, ``password``, ``X-Amz-Signature``, ...), replaced
    with ``***``. Text without them is returned unchanged (the same string)."""
    if "@" not in text and "=" not in text:
        return text  # the common case, a URL without credentials, costs two scans
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    return _SECRET_PARAMETER.sub(rf"\1{REDACTED}", text)


class RedactedCause(Exception):
    """Stands in for an exception whose text would show credentials, as the cause of an error.

    Its message is the original's qualified type name and its redacted text. The original is
    dropped, with its own causes: its ``args`` and ``repr`` (aiohttp's errors hold whole URLs,
    and connection keys with the proxy's credentials) cannot be redacted in place.
    """


def redacted_cause(error: BaseException) -> BaseException:
    """``error`` itself if nothing it shows (its text, ``repr``, ``args`` and the same of the
    causes a traceback would print) changes under :func:`redact`; else a
    :class:`RedactedCause` to chain from instead (``raise ... from redacted_cause(e)``)."""
    text = _shown(error)
    if redact(text) == text:
        return error
    cls = type(error)
    return RedactedCause(f"{cls.__module__}.{cls.__qualname__}: {redact(str(error))}")


def _shown(error: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), *(repr(arg) for arg in current.args)]
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)
    return "\n".join(parts)
