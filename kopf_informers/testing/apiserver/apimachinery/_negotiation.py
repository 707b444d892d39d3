"""The media types request bodies come in, and how each is decoded: content negotiation of
input, as kube-apiserver's ``endpoints/handlers/negotiation`` and codec factory do it.

Where it sits: the HTTP layer picks the decoder of a create's or an update's body (POST, PUT,
and PUT of ``/scale``) with :func:`body_type` from :data:`BODY_TYPES`, the one table of object
body content types; the registry picks a patch's type from its own table
(``registry/_patching.PATCH_TYPES``) with :func:`negotiate`, which both go through. A media type
that is not in the table, or not for this resource, is refused as kube-apiserver refuses it::

    415 UnsupportedMediaType  the body of the request was in an unknown format - accepted
                              media types include: application/json, application/yaml

The table, a new protocol being one row (its decoder; whether it is slow enough to decode off
the loop; whether custom resources take it)::

    application/json                      load_json()      every resource; also when none is sent
    application/yaml                      load_yaml()      every resource; decoded off the loop
    application/vnd.kubernetes.protobuf   decode_object()  built-ins only (``_protobuf``), as on
                                                           kube-apiserver: CRs have no protobuf

A row whose decoder is None is a media type the real server speaks and this one does not: a 415
that says so (:func:`not_spoken`), and it is not among the media types a 415 lists as accepted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol, TypeVar

from ._decoding import load_json, load_yaml
from ._protobuf import decode_object
from ._status import ApiStatusError

JSON: Final = "application/json"
YAML: Final = "application/yaml"
PROTOBUF: Final = "application/vnd.kubernetes.protobuf"


class ContentType(Protocol):
    """A row of a table of content types: what :func:`negotiate` asks of it."""

    @property
    def media_type(self) -> str: ...

    @property
    def for_custom(self) -> bool: ...


@dataclasses.dataclass(frozen=True)
class BodyType:
    """One media type of create and update bodies.

    ``decode(raw)`` returns the decoded body, or raises ``DecodeError`` (a 400 ``error decoding
    <name>: ...``); None: a media type the real server speaks and this one does not.
    ``off_loop``: slow to decode, so decoded in a worker thread. ``for_custom``: custom
    resources take it.
    """

    media_type: str
    name: str
    decode: Callable[[bytes], Any] | None
    off_loop: bool = False
    for_custom: bool = True


BODY_TYPES: Final[Mapping[str, BodyType]] = {t.media_type: t for t in (
    BodyType(JSON, "JSON", load_json),
    BodyType(YAML, "YAML", load_yaml, off_loop=True),  # PyYAML takes some 7 µs a byte
    BodyType(PROTOBUF, "protobuf", decode_object, for_custom=False),
)}

Row = TypeVar("Row", bound=ContentType)


def media_type_of(content_type: str) -> str:
    """The media type of a ``Content-Type`` header: no parameters, lower case."""
    return content_type.partition(";")[0].strip().lower()


def negotiate(
    content_type: str, table: Mapping[str, Row], *, custom: bool,
    accepted: Callable[[Row], bool] = lambda row: True,
) -> Row:
    """The row of ``table`` for a request's ``Content-Type``, as the resource takes it.

    ``custom``: the resource is a custom resource, which takes only rows ``for_custom``;
    ``accepted``: which of the rows a 415 lists. Raises a 415 :func:`unsupported_media_type`.
    """
    row = table.get(media_type_of(content_type))
    if row is None or (custom and not row.for_custom):
        raise unsupported_media_type(
            r.media_type for r in table.values() if (r.for_custom or not custom) and accepted(r)
        )
    return row


def body_type(content_type: str, *, custom: bool) -> BodyType:
    """The row of :data:`BODY_TYPES` for a create's or an update's body; JSON when no
    ``Content-Type`` is sent. Raises a 415 for a media type not there (or not for custom
    resources); a 415 that lists what is accepted lists only what is spoken here."""
    return negotiate(content_type or JSON, BODY_TYPES, custom=custom,
                     accepted=lambda row: row.decode is not None)


def not_spoken(row: BodyType) -> ApiStatusError:
    """A body in a media type the real server takes and this one does not."""
    return ApiStatusError(
        415, f"the embedded API server speaks JSON only: {row.name} request bodies are not "
        "supported (use `kubectl create -f` or `kubectl apply -f`, which send JSON)",
        reason="UnsupportedMediaType",
    )


def unsupported_media_type(accepted: Iterable[str]) -> ApiStatusError:
    """A body in a media type the resource does not take, answered as kube-apiserver does."""
    return ApiStatusError(
        415, "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )
