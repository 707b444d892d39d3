"""The HTTP face of the embedded API server: routing, discovery, watch streams, content types.

Requests are parsed into a verb and a resource the way kube-apiserver's request-info resolver
does, handed to ``ApiCore``, and rendered as Kubernetes JSON: objects, ``<Kind>List``s,
``meta.k8s.io/v1`` Tables when asked for, and ``Status`` objects for every error. Watches stream
JSON lines as ``application/json`` and carry their errors (410 Gone) inside the stream, since
clients treat an HTTP-level error on a watch as fatal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from aiohttp import web

from ... import __version__
from . import _openapi, _tables
from ._core import ApiCore, Selection, present
from ._fault_endpoint import FaultEndpoint
from ._resources import ResourceInfo
from ._status import ApiStatusError, bad_request, status_body
from ._store import Obj, Watcher
from ._watch import WatchStream

if TYPE_CHECKING:
    from ._server import EmbeddedApiServer

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-embedded+kopf-informers",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
    "platform": "linux/amd64", "emulator": f"kopf-informers {__version__}",
}
NAMESPACE_SUBRESOURCES = ("status", "finalize")
# Kinds whose storage returns the deleted object instead of a Status (ReturnDeletedObject).
RETURNS_DELETED_OBJECT = frozenset({
    ("", "pods"), ("", "serviceaccounts"), ("", "namespaces"), ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"), ("storage.k8s.io", "storageclasses"),
})


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
    collection = name is None
    verb = {
        "GET": "list" if collection else "get",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "deletecollection" if collection else "delete",
    }.get(method, method.lower())
    if verb == "list" and query.get("watch") in ("true", "1"):
        verb = "watch"
    return RequestInfo(verb, group, version, plural, namespace, name, subresource)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None,
                  ) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON,
                        headers=headers)


def status_response(error: ApiStatusError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return json_response(error.body, status=error.code, headers=headers)


class HttpApi:
    """The aiohttp application of one embedded server."""

    def __init__(self, server: EmbeddedApiServer) -> None:
        self.server = server
        self.core: ApiCore = server.core
        self.active_watches: dict[Watcher, web.Request] = {}
        self._openapi_cache: dict[str, Any] = {}
        self._openapi_generation = -1

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        add = app.router.add_route
        add("GET", "/version", self._version)
        add("GET", "/version/", self._version)  # the official client's VersionApi asks here
        add("GET", "/healthz", self._ok)
        add("GET", "/livez", self._ok)
        add("GET", "/readyz", self._ok)
        add("GET", "/api", self._api_versions)
        add("GET", "/apis", self._api_groups)
        add("GET", "/openapi/v3", self._openapi_index)
        add("GET", "/openapi/v3/{path:.*}", self._openapi_document)
        FaultEndpoint(self.server.faults, self.server.journal).add_routes(app)
        add("*", "/api/{path:.*}", self._dispatch)
        add("*", "/apis/{path:.*}", self._dispatch)
        return app

    # -- middleware: journal, faults, errors ----------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        info = resolve(request.method, request.path, request.query)
        request[REQUEST_INFO] = info
        entry = self.server.journal.record(request, info)
        try:
            response = await self._faulted(request, info, handler)
        except ApiStatusError as e:
            response = status_response(e)
        except web.HTTPException as e:
            response = json_response(status_body(e.status, e.reason), status=e.status)
        entry.status = response.status
        entry.duration = time.monotonic() - entry.started
        return response

    async def _faulted(
        self, request: web.Request, info: RequestInfo,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        faults = self.server.faults
        delay = faults.latency_for(info)
        if delay:
            await asyncio.sleep(delay)
        if not info.discovery or request.path.startswith(("/api", "/apis")):
            failure = faults.take_failure(info)
            if failure is not None:
                raise failure
        return await handler(request)

    # -- discovery ------------------------------------------------------------------------------

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _version(self, request: web.Request) -> web.Response:
        return json_response(VERSION_INFO)

    async def _api_versions(self, request: web.Request) -> web.Response:
        return json_response({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host},
            ],
        })

    async def _api_groups(self, request: web.Request) -> web.Response:
        groups = [self._group(name, versions)
                  for name, versions in self.core.registry.groups().items() if name]
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    @staticmethod
    def _group(name: str, versions: list[str]) -> dict[str, Any]:
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"name": name, "versions": entries, "preferredVersion": entries[0]}

    def _group_or_resources(self, path: str) -> web.Response:
        parts = [p for p in path.split("/") if p]
        groups = self.core.registry.groups()
        if parts == ["api", "v1"]:
            return json_response(self._resource_list("", "v1"))
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups and parts[1]:
            return json_response({"kind": "APIGroup", "apiVersion": "v1",
                                  **self._group(parts[1], groups[parts[1]])})
        if len(parts) == 3 and parts[0] == "apis" and parts[2] in groups.get(parts[1], ()):
            return json_response(self._resource_list(parts[1], parts[2]))
        raise ApiStatusError(404, "the server could not find the requested resource")

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources: list[dict[str, Any]] = []
        for info in sorted(self.core.registry.in_group_version(group, version),
                           key=lambda i: i.plural):
            resources.append(_discovery_entry(info))
            if info.status:
                resources.append({
                    "name": f"{info.plural}/status", "singularName": "",
                    "namespaced": info.namespaced, "kind": info.kind,
                    "verbs": ["get", "patch", "update"],
                })
            if info.scale is not None:
                resources.append({
                    "name": f"{info.plural}/scale", "singularName": "",
                    "namespaced": info.namespaced, "group": "autoscaling", "version": "v1",
                    "kind": "Scale", "verbs": ["get", "patch", "update"],
                })
        return {
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def _openapi_docs(self) -> dict[str, Any]:
        registry = self.core.registry
        if self._openapi_generation != registry.generation:
            self._openapi_cache = {}
            self._openapi_generation = registry.generation
        if "index" not in self._openapi_cache:
            self._openapi_cache["index"] = _openapi.openapi_v3_index(registry.all())
        return self._openapi_cache

    async def _openapi_index(self, request: web.Request) -> web.Response:
        return json_response(self._openapi_docs()["index"])

    async def _openapi_document(self, request: web.Request) -> web.Response:
        parts = [p for p in request.match_info["path"].split("/") if p]
        if parts == ["api", "v1"]:
            group, version = "", "v1"
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            raise ApiStatusError(404, "the server could not find the requested resource")
        infos = self.core.registry.in_group_version(group, version)
        if not infos:
            raise ApiStatusError(404, "the server could not find the requested resource")
        docs = self._openapi_docs()
        key = f"{group}/{version}"
        if key not in docs:
            docs[key] = _openapi.openapi_v3_document(group, version, infos)
        return json_response(docs[key])

    # -- resources ------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        info = request[REQUEST_INFO]
        if info.discovery:
            if request.method != "GET":
                raise ApiStatusError(405, f"the server does not allow this method on the "
                                          f"requested resource ({request.method})",
                                     reason="MethodNotAllowed")
            return self._group_or_resources(request.path)
        resource = self.core.registry.get(info.group, info.version, info.plural)
        if resource is None or not self._shape_fits(resource, info):
            raise ApiStatusError(404, "the server could not find the requested resource")
        handler = getattr(self, f"_verb_{info.verb}", None)
        if handler is None:
            raise ApiStatusError(405, f"the server does not allow this method on the requested "
                                      f"resource ({request.method})", reason="MethodNotAllowed")
        response: web.StreamResponse = await handler(request, resource, info)
        return response

    @staticmethod
    def _shape_fits(resource: ResourceInfo, info: RequestInfo) -> bool:
        if info.subresource is not None and info.subresource not in resource.subresources:
            return False
        if resource.namespaced:
            # A namespaced object is addressed in its namespace; only list/watch span them all.
            return info.namespace is not None or info.verb in ("list", "watch")
        return info.namespace is None

    async def _verb_get(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                        ) -> web.StreamResponse:
        assert info.name is not None
        obj = self.core.get(res, info.namespace, info.name)
        if info.subresource == "scale":
            return json_response(self.core.scale_of(res, obj))
        return self._render(request, res, [present(res, obj)], single=True)

    async def _verb_list(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                         ) -> web.StreamResponse:
        q = request.query
        selection = Selection(res, info.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        items, rv, token, remaining = self.core.list_objects(
            res, selection, limit=_int_param(q, "limit"), continue_token=q.get("continue"),
            resource_version=q.get("resourceVersion"),
            resource_version_match=q.get("resourceVersionMatch"),
        )
        if _wants_table(request):
            table = self._table(request, res, items)
            table["metadata"] = _list_meta(rv, token, remaining)
            return json_response(table)
        # Objects keep the version they were written in: any of them may need presenting.
        if any(o.get("apiVersion") != res.api_version for o in items):
            items = [present(res, o) for o in items]
        return json_response({
            "kind": res.list_kind, "apiVersion": res.api_version,
            "metadata": _list_meta(rv, token, remaining), "items": items,
        })

    def _render(self, request: web.Request, res: ResourceInfo, objs: list[Obj], *,
                single: bool, status: int = 200, warnings: list[str] | None = None,
                ) -> web.Response:
        headers = _warning_headers(warnings)
        if _wants_table(request):
            return json_response(self._table(request, res, objs), status, headers)
        return json_response(objs[0] if single else objs, status, headers)

    @staticmethod
    def _table(request: web.Request, res: ResourceInfo, objs: list[Obj]) -> dict[str, Any]:
        include = request.query.get("includeObject", "Metadata")
        try:
            return _tables.render_table(res, objs, include_object=include,
                                        now=datetime.datetime.now(datetime.UTC))
        except ValueError as e:
            raise bad_request(str(e)) from e

    async def _verb_create(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                           ) -> web.StreamResponse:
        if info.subresource is not None:
            raise ApiStatusError(405, "the server does not allow this method on the requested "
                                      "resource", reason="MethodNotAllowed")
        body = await _read_body(request)
        warnings: list[str] = []
        obj = self.core.create(
            res, info.namespace, body, dry_run=_dry_run(request),
            field_validation=_field_validation(request), warnings=warnings,
        )
        return self._render(request, res, [obj], single=True, status=201, warnings=warnings)

    async def _verb_update(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                           ) -> web.StreamResponse:
        assert info.name is not None
        body = await _read_body(request)
        if info.subresource == "scale":
            obj = self.core.update_scale(res, info.namespace, info.name, body,
                                         dry_run=_dry_run(request))
            return json_response(self.core.scale_of(res, obj))
        warnings: list[str] = []
        obj = self.core.update(
            res, info.namespace, info.name, body, subresource=info.subresource,
            dry_run=_dry_run(request), field_validation=_field_validation(request),
            warnings=warnings,
        )
        return self._render(request, res, [present(res, obj)], single=True, warnings=warnings)

    async def _verb_patch(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                          ) -> web.StreamResponse:
        assert info.name is not None
        content_type = request.content_type
        if content_type.startswith(PROTOBUF):
            raise _protobuf_refused()
        raw = await request.read()
        if info.subresource == "scale":
            obj = self.core.patch_scale(res, info.namespace, info.name, content_type, raw,
                                        dry_run=_dry_run(request))
            return json_response(self.core.scale_of(res, obj))
        warnings: list[str] = []
        obj, created = self.core.patch(
            res, info.namespace, info.name, content_type, raw, subresource=info.subresource,
            manager=request.query.get("fieldManager"), dry_run=_dry_run(request),
            field_validation=_field_validation(request), warnings=warnings,
            force=request.query.get("force") in ("true", "1"),
        )
        return self._render(request, res, [present(res, obj)], single=True,
                            status=201 if created else 200, warnings=warnings)

    async def _verb_delete(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                           ) -> web.StreamResponse:
        assert info.name is not None
        options = await _delete_options(request)
        obj, gone = self.core.delete(res, info.namespace, info.name, options,
                                     dry_run=_dry_run(request))
        if gone and res.key not in RETURNS_DELETED_OBJECT:
            # Most kinds answer an immediate deletion with a Status; a few with the object.
            return json_response({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": info.name, "group": res.group, "kind": res.plural,
                            "uid": obj["metadata"].get("uid")},
            })
        return self._render(request, res, [present(res, obj)], single=True)

    async def _verb_deletecollection(
        self, request: web.Request, res: ResourceInfo, info: RequestInfo,
    ) -> web.StreamResponse:
        q = request.query
        selection = Selection(res, info.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        options = await _delete_options(request)
        deleted = self.core.delete_collection(res, selection, options, dry_run=_dry_run(request))
        return json_response({
            "kind": res.list_kind, "apiVersion": res.api_version,
            "metadata": {"resourceVersion": str(self.core.store.rv)},
            "items": [present(res, o) for o in deleted],
        })

    # -- watch ----------------------------------------------------------------------------------

    async def _verb_watch(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                          ) -> web.StreamResponse:
        q = request.query
        selection = Selection(res, info.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        initial_flag = q.get("sendInitialEvents")
        send_initial = None if initial_flag is None else initial_flag in ("true", "1")
        if send_initial and (q.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            raise ApiStatusError(422, "sendInitialEvents is forbidden for watch unless "
                                      "resourceVersionMatch=NotOlderThan and "
                                      "allowWatchBookmarks=true are set")
        timeout = _float_param(q, "timeoutSeconds") or self.server.watch_timeout
        include_object = None  # events carry objects; with it, one-row Tables (kubectl get -w)
        if _wants_table(request):
            self._table(request, res, [])  # a bad includeObject is a 400 before the stream
            include_object = q.get("includeObject", "Metadata")
        watcher, initial, ok = self.core.subscribe(
            res, selection, q.get("resourceVersion"), send_initial_events=send_initial,
        )
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        self.active_watches[watcher] = request
        try:
            await response.prepare(request)
            if not ok:
                rv = q.get("resourceVersion")
                gone = status_body(410, f"too old resource version: {rv} "
                                        f"({self.core.store.resource(res.key).compacted_rv})")
                await response.write(orjson.dumps({"type": "ERROR", "object": gone}) + b"\n")
                return response
            faults = self.server.faults
            stream = WatchStream(self, res, selection, watcher, response, bookmarks,
                                  include_object=include_object,
                                  delay=lambda: faults.watch_delay_for(res))
            await stream.run(initial, end_marker=bool(send_initial), duration=timeout)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            watcher.close()
            self.active_watches.pop(watcher, None)
        return response


def _discovery_entry(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
        "kind": info.kind, "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def _list_meta(rv: int, token: str | None, remaining: int | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if token:
        meta["continue"] = token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
    return meta


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept


def _warning_headers(warnings: list[str] | None) -> dict[str, str] | None:
    if not warnings:
        return None
    # RFC 7234 warn-text is a quoted-string: quotes and backslashes inside are escaped.
    quoted = (w.replace("\\", "\\\\").replace('"', '\\"') for w in warnings)
    return {"Warning": ", ".join(f'299 - "{w}"' for w in quoted)}


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"{name}: invalid value {value!r}: must be an integer") from None


def _float_param(query: Mapping[str, str], name: str) -> float | None:
    value = _int_param(query, name)
    return None if value is None else float(value)


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def _field_validation(request: web.Request) -> str:
    # Unset means Warn, as on kube-apiserver (kubectl asks for Strict explicitly;
    # the official client asks for nothing).
    value = request.query.get("fieldValidation") or "Warn"
    if value not in ("Strict", "Warn", "Ignore"):
        raise bad_request(f'fieldValidation: Unsupported value: "{value}": supported values: '
                          '"Ignore", "Strict", "Warn"')
    return value


def _protobuf_refused() -> ApiStatusError:
    return ApiStatusError(
        415, "the embedded API server speaks JSON only: protobuf request bodies are not "
        "supported (use `kubectl create -f` or `kubectl apply -f`, which send JSON)",
        reason="UnsupportedMediaType",
    )


async def _read_body(request: web.Request) -> Any:
    content_type = request.headers.get("Content-Type", "")
    raw = await request.read()
    if content_type.startswith(PROTOBUF):
        raise _protobuf_refused()
    if not raw:
        raise bad_request("the body of the request is empty")
    if "yaml" in content_type:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise bad_request(f"error decoding YAML: {e}") from e
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise bad_request(f"error decoding JSON: {e}") from e


async def _delete_options(request: web.Request) -> dict[str, Any]:
    options: dict[str, Any] = {}
    raw = await request.read()
    if raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"error decoding DeleteOptions: {e}") from e
        if isinstance(body, dict):
            options.update(body)
    q = request.query
    if "propagationPolicy" in q:
        options["propagationPolicy"] = q["propagationPolicy"]
    if "gracePeriodSeconds" in q:
        options["gracePeriodSeconds"] = _int_param(q, "gracePeriodSeconds")
    if "orphanDependents" in q:
        options["orphanDependents"] = q["orphanDependents"] == "true"
    return options
