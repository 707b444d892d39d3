"""What a request is about, as kube-apiserver's request-info resolver says: verb and coordinates.

The first thing done to every request (before the journal, the faults and the handlers read it)
and the one place that knows the shape of Kubernetes URLs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from aiohttp import web

from ..auth._user import UserInfo

NAMESPACE_SUBRESOURCES = ("status", "finalize")
# The verbs of a collection's URL; all others need an object's URL (a name).
COLLECTION_VERBS = frozenset({"list", "watch", "create", "deletecollection"})

@dataclasses.dataclass
class RequestInfo:
    """What a request is about, as kube-apiserver's RequestInfo: verb and resource coordinates."""

    verb: str
    group: str = ""
    version: str = ""
    plural: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    discovery: bool = False

    @property
    def resource(self) -> str:
        return f"{self.plural}/{self.subresource}" if self.subresource else self.plural


# A typed request key: aiohttp warns about plain string keys (an error under -W error).
REQUEST_INFO = web.RequestKey("info", RequestInfo)
# Who the request is, once authenticated (and impersonated): set before any handler runs.
REQUEST_USER = web.RequestKey("user", UserInfo)


# The verb of each method, on a collection's URL and on an object's.
_COLLECTION_VERB = {"GET": "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "deletecollection"}
_OBJECT_VERB = {**_COLLECTION_VERB, "GET": "get", "DELETE": "delete"}


def resolve(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Classify a request path; discovery and non-resource paths get ``discovery=True``."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(verb=method.lower(), discovery=True)
    if not rest:
        return RequestInfo(verb="get", group=group, version=version, discovery=True)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and not (
        len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES
    ):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        plural = ""  # deeper paths are served by nothing: a 404 below
    verb = (_COLLECTION_VERB if name is None else _OBJECT_VERB).get(method) or method.lower()
    if verb == "list" and query.get("watch") in ("true", "1"):
        verb = "watch"
    return RequestInfo(verb, group, version, plural, namespace, name, subresource)


