"""Path segments: what may stand between two slashes of an API path.

Object names, namespaces and subresources become segments of request paths
(``/api/v1/namespaces/{namespace}/configmaps/{name}/{subresource}``). Percent-encoding makes
most characters safe there, but not these, so they are refused before any URL is built:

- ``.`` and ``..``: URL normalisation removes dot segments (RFC 3986 §5.2.4; yarl does it before
  aiohttp sends the request, and so do proxies), so ``DELETE .../configmaps/.`` would go out as
  ``DELETE .../configmaps/`` — a deletecollection of every ConfigMap in the namespace — and
  ``.../configmaps/..`` as a DELETE of the namespace itself;
- the empty string, which turns an object's path into its collection's (``.../configmaps/``),
  and anything that is not a string (``None`` would address the collection);
- ``/`` and ``%``, which no object can have in its name: the API server refuses such names
  (apimachinery's ``IsValidPathSegmentName``, whose rules and wording these are).

Everything else (``system:reader``, ``...``, ``.hidden``) is a name some kind may have, and is
sent percent-encoded.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError

__all__ = ["check_segment", "segment_problem"]

_NOT_SEGMENTS = (".", "..")
_NOT_IN_SEGMENTS = ("/", "%")


def segment_problem(value: object) -> str | None:
    """Why ``value`` cannot be a path segment (apimachinery's words), or None if it can."""
    if not isinstance(value, str):
        return f"is not a string but {type(value).__name__}"
    if not value:
        return "may not be empty"
    if value in _NOT_SEGMENTS:
        return f"may not be {value!r}"
    for char in _NOT_IN_SEGMENTS:
        if char in value:
            return f"may not contain {char!r}"
    return None


def check_segment(value: object, parameter: str, *, request: str) -> str:
    """``value`` itself if it can be a path segment.

    ``parameter`` names where the value came from (``name``, ``namespace``, ``subresource``,
    ``metadata.name``), ``request`` what was being done (``delete v1/configmaps``); both are in
    the message.

    Raises:
        InvalidArgumentError: it cannot (see the module for the rules).
    """
    problem = segment_problem(value)
    if problem is not None:
        raise InvalidArgumentError(
            f"{request}: {parameter}={value!r} cannot be a segment of the request's path: "
            f"it {problem}"
        )
    assert isinstance(value, str)
    return value
