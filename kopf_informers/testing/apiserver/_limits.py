"""The limits kube-apiserver and etcd put on what one request may carry and store.

Where it sits: the HTTP layer (``_http``) reads no body beyond the request limit; the decoders
(``_decoding``) refuse nesting and YAML aliases beyond theirs; the JSON-patch function
(``_patching``) counts operations and copied bytes; ``ApiCore`` refuses to store an object etcd
would refuse. Each limit is the real server's, refused with the real server's answer::

    what                  limit     the real server's name     answer
    request body          3 MiB     MaxRequestBodyBytes        413 RequestEntityTooLarge
    JSON-patch ops        10,000    maxJSONPatchOperations     413 RequestEntityTooLarge
    bytes that a JSON     3 MiB     JSONPatchMaxCopyBytes      422 Invalid
    patch's ``copy``                (json-patch's Accumulated-
    operations copy                 CopySizeLimit)
    a stored object       1.5 MiB   etcd's max-request-bytes   500, "etcdserver: request is
                                                               too large", no reason

They keep one request from costing more than its size suggests: two kilobytes of ``copy``
operations, each copying the object into itself, would otherwise double it forty times over, in
memory and on the server's only thread.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ._status import StorageTooLargeError

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


def copy_for_storage(obj: Any) -> Any:
    """A deep copy of an object about to be stored, refused as etcd would refuse to store it.

    Raises :class:`StorageTooLargeError` for an object beyond ``MAX_OBJECT_BYTES`` as JSON. It
    is measured in passing, by the JSON round trip that copies it anyway, before defaults (a
    few hundred bytes): exactly the size etcd gets for a custom resource, a little more than
    the protobuf it gets for a built-in kind.
    """
    encoded = orjson.dumps(obj)
    if len(encoded) > MAX_OBJECT_BYTES:
        raise StorageTooLargeError()
    return orjson.loads(encoded)
