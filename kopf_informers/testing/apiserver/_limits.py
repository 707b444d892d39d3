"""The limits kube-apiserver and etcd put on what one request may carry and store.

Where it sits: the HTTP layer (``_http``) reads no body beyond the request limit; the decoders
(``_decoding``) refuse nesting and YAML aliases beyond theirs; the JSON-patch function
(``_patching``) counts operations and copied bytes; ``ApiCore`` refuses to store an object etcd
would refuse. Each limit is the real server's, refused with the real server's answer::

    what                  limit     the real server's name     answer
    request body          3 MiB     MaxRequestBodyBytes        413 RequestEntityTooLarge

They keep one request from costing more than its size suggests.
"""

from __future__ import annotations

from typing import Final

# kube-apiserver: 3 MiB, twice etcd's 1.5 MiB request limit, since JSON is larger than the
# protobuf that etcd stores.
MAX_REQUEST_BODY_BYTES: Final = 3 * 1024 * 1024
