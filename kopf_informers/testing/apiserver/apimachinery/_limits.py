"""The limits kube-apiserver and etcd put on what one request may carry and store.

Where it sits: the HTTP layer (``_http``) reads no body beyond the request limit; the decoders
(``_decoding``) refuse nesting beyond ``MAX_DEPTH`` and YAML aliases beyond go-yaml's budget;
the JSON-patch function (``_patching``) counts operations and copied bytes; ``ApiCore`` stores
only what :func:`copy_for_storage` lets through. Each limit is the real server's, refused with
the real server's answer::

    what                  limit     the real server's name     answer
    request body          3 MiB     MaxRequestBodyBytes        413 RequestEntityTooLarge
    JSON-patch ops        10,000    maxJSONPatchOperations     413 RequestEntityTooLarge
    bytes that a JSON     3 MiB     JSONPatchMaxCopyBytes      422 Invalid
    patch's ``copy``                (json-patch's Accumulated-
    operations copy                 CopySizeLimit)
    a stored object       1.5 MiB   etcd's max-request-bytes   500, "etcdserver: request is
                                                               too large", no reason
    nesting               200       10,000 in encoding/json    400 BadRequest, "exceeded max
                                    and go-yaml                depth of 200" (422 if a patch
                                                               nests the object deeper)

Difference on purpose: the depth limit, which here has to keep recursive walks within Python's
recursion limit, and every response within the 254 levels orjson writes.

They keep one request from costing more than its size suggests: two kilobytes of ``copy``
operations, each copying the object into itself, would otherwise double it forty times over, in
memory and on the server's only thread.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ._status import ApiStatusError, StorageTooLargeError, bad_request

# kube-apiserver: 3 MiB, twice etcd's 1.5 MiB request limit, since JSON is larger than the
# protobuf that etcd stores.
MAX_REQUEST_BODY_BYTES: Final = 3 * 1024 * 1024

# kube-apiserver's maxJSONPatchOperations.
MAX_JSON_PATCH_OPERATIONS: Final = 10_000

# kube-apiserver's JSONPatchMaxCopyBytes, which it sets as json-patch's AccumulatedCopySizeLimit:
# the JSON size of all values that one patch's ``copy`` operations copy, together.
MAX_JSON_PATCH_COPY_BYTES: Final = 3 * 1024 * 1024

# etcd's default --max-request-bytes, which bounds what kube-apiserver can write in one request.
MAX_OBJECT_BYTES: Final = 1536 * 1024

# How deep objects and arrays may nest in a body or a stored object ({} is one level). The real
# decoders allow 10,000 levels. Here the walks over objects are recursive Python, and orjson
# writes no more than 254 levels, of which a response may take 4 around an object (a watch event
# of a Table row that includes the object).
MAX_DEPTH: Final = 200
DEPTH_EXCEEDED: Final = f"exceeded max depth of {MAX_DEPTH}"  # as go-yaml words it
_ORJSON_MAX_DEPTH: Final = 254  # orjson.dumps refuses deeper values: "Recursion limit reached"
_WRAPPERS: Final = _ORJSON_MAX_DEPTH - MAX_DEPTH


def copy_for_storage(obj: Any) -> Any:
    """A deep copy of an object about to be stored, refused as etcd would refuse to store it.

    Raises :class:`StorageTooLargeError` for an object beyond ``MAX_OBJECT_BYTES`` as JSON, a
    422 for one nested deeper than ``MAX_DEPTH`` (which a JSON patch or the ``managedFields``
    of an apply can make of a body that was not), a 400 for a value JSON has no room for (a
    YAML set, an integer beyond 64 bits).

    Both are measured in passing, by the JSON round trip that copies the object anyway: its size
    before defaults (a few hundred bytes), exactly what etcd gets for a custom resource and a
    little more than the protobuf it gets for a built-in kind. Its depth: an object whose JSON
    opens no more than ``MAX_DEPTH`` brackets cannot nest deeper (each level opens one; those
    in strings only add to the count); any other is encoded again wrapped in as many arrays as
    orjson then has levels to spare beyond ``MAX_DEPTH``, which orjson refuses if it is deeper.
    """
    try:
        encoded = orjson.dumps(obj)
    except orjson.JSONEncodeError:
        return _copy_wrapped(obj)  # refused: what for, as the wrapped encoding tells
    if encoded.count(b"[") + encoded.count(b"{") > MAX_DEPTH:
        return _copy_wrapped(obj)  # it may nest too deep: the exact check
    if len(encoded) > MAX_OBJECT_BYTES:
        raise StorageTooLargeError()
    return orjson.loads(encoded)


def _copy_wrapped(obj: Any) -> Any:
    """:func:`copy_for_storage` with its depth measured by orjson's own limit: within
    ``MAX_DEPTH`` if it can still encode the object wrapped in ``_WRAPPERS`` arrays."""
    wrapped = obj
    for _ in range(_WRAPPERS):
        wrapped = [wrapped]
    try:
        encoded = orjson.dumps(wrapped)
    except orjson.JSONEncodeError as e:
        if str(e) == "Recursion limit reached":
            message = f"the object to store is too deep: {DEPTH_EXCEEDED}"
            raise ApiStatusError(422, message) from None
        raise bad_request(f"the object cannot be stored as JSON: {e}") from None
    if len(encoded) - 2 * _WRAPPERS > MAX_OBJECT_BYTES:
        raise StorageTooLargeError()
    return orjson.loads(memoryview(encoded)[_WRAPPERS:len(encoded) - _WRAPPERS])
