"""The HTTP face of the embedded API server: routing, discovery, watch streams, content types.

Requests are parsed into a verb and a resource the way kube-apiserver's request-info resolver
does, handed to ``ApiCore``, and rendered as Kubernetes JSON: objects, ``<Kind>List``s,
``meta.k8s.io/v1`` Tables when asked for, and ``Status`` objects for every error. Watches stream
JSON lines as ``application/json`` and carry their errors (410 Gone) inside the stream, since
clients treat an HTTP-level error on a watch as fatal.

Bodies are read within kube-apiserver's limits (``_limits``), in a media type negotiated from
the one table of body content types (``_negotiation.BODY_TYPES``; patches from
``_patching.PATCH_TYPES``, through the same negotiation), and decoded within kube-apiserver's
decoders' limits (``_decoding``); YAML, which PyYAML decodes slowly, in a worker thread, off
the loop.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from .... import __version__
from ..admission._webhooks import Webhooks
from ..apimachinery._decoding import DecodeError, duplicate_fields, load_json
from ..apimachinery._json import encode
from ..apimachinery._limits import MAX_REQUEST_BODY_BYTES
from ..apimachinery._negotiation import (
    JSON,
    PROTOBUF,
    body_type,
    media_type_of,
    negotiate,
    not_spoken,
)
from ..apimachinery._protobuf import decode_object
from ..apimachinery._status import (
    ApiStatusError,
    bad_request,
    method_not_allowed,
    request_entity_too_large,
    status_body,
    success_status,
)
from ..auth._authorizer import (
    ALWAYS_ALLOW,
    Attributes,
    forbidden,
    impersonation_checks,
    unauthorized,
)
from ..auth._tls import user_of_certificate
from ..auth._user import UserInfo, impersonated
from ..registry import _patching
from ..registry._core import ApiCore, Selection, present
from ..registry._resources import ResourceInfo
from ..registry._reviews import token_request
from ..storage._store import Obj
from . import _openapi, _openapi_proto, _openapi_v2, _tables
from ._admitted import AdmittedWrites, WriteOptions
from ._fault_endpoint import FaultEndpoint
from ._faults import Faults, Journal, JournalEntry
from ._request_info import COLLECTION_VERBS, REQUEST_INFO, REQUEST_USER, RequestInfo, resolve
from ._watch import ActiveWatches, WatchStream

VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-embedded+kopf-informers",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
    "platform": "linux/amd64", "emulator": f"kopf-informers {__version__}",
}


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None,
                  ) -> web.Response:
    """``data`` encoded as kube-apiserver's serializer encodes a body (``_json.encode``)."""
    return web.Response(body=encode(data), status=status, content_type=JSON, headers=headers)


def status_response(error: ApiStatusError) -> web.Response:
    headers = dict(_warning_headers(error.warnings) or {})
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return json_response(error.body, status=error.code, headers=headers or None)


@dataclasses.dataclass(frozen=True)
class HttpSettings:
    """What the HTTP layer is told at startup: the pace of bookmarks and the default end of
    watches that ask for no ``timeoutSeconds`` (None: they last until the client leaves)."""

    bookmark_interval: float = 1.0
    watch_timeout: float | None = None
    max_watches_per_user: int = 1000  # open watches one user may hold; more get 429
    max_label_selector: int = 4096  # characters of a labelSelector; longer ones get 400


class HttpApi:
    """The aiohttp application of one embedded server, built from what it reads: the API core,
    the journal it writes, the faults it obeys, the watches it registers, and its settings."""

    def __init__(
        self, *, core: ApiCore, journal: Journal, faults: Faults, watches: ActiveWatches,
        settings: HttpSettings, webhooks: Webhooks | None = None,
    ) -> None:
        self.core = core
        self.writes = AdmittedWrites(core=core, webhooks=webhooks or Webhooks(core.store))
        self.journal = journal
        self.faults = faults
        self.watches = watches
        self.settings = settings
        self._openapi_cache: dict[str, Any] = {}
        self._openapi_generation = -1
        self._watches_of: collections.Counter[str] = collections.Counter()

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware],
                              client_max_size=MAX_REQUEST_BODY_BYTES)
        add = app.router.add_route
        add("GET", "/version", self._version)
        add("GET", "/version/", self._version)  # the official client's VersionApi asks here
        add("GET", "/healthz", self._ok)
        add("GET", "/livez", self._ok)
        add("GET", "/readyz", self._ok)
        add("GET", "/api", self._api_versions)
        add("GET", "/apis", self._api_groups)
        add("GET", "/openapi/v2", self._openapi_v2)
        add("GET", "/openapi/v3", self._openapi_index)
        add("GET", "/openapi/v3/{path:.*}", self._openapi_document)
        FaultEndpoint(self.faults, self.journal).add_routes(app)
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
        entry = self.journal.record(request, info)
        try:
            self._admit(request, info, entry)
            response = await self._faulted(request, info, handler)
        except ApiStatusError as e:
            response = status_response(e)
        except web.HTTPRequestEntityTooLarge:  # a body read beyond client_max_size
            response = status_response(_body_too_large())
        except web.HTTPException as e:
            response = json_response(status_body(e.status, e.reason), status=e.status)
        entry.status = response.status
        entry.duration = time.monotonic() - entry.started
        return response

    def _admit(self, request: web.Request, info: RequestInfo, entry: JournalEntry) -> None:
        """Authenticate (401), impersonate and authorize (403) a request, as kube-apiserver's
        filters do before any handler; the journal keeps who asked and what was decided."""
        transport = request.transport
        peer = user_of_certificate(transport.get_extra_info("peercert") if transport else None)
        user = self.core.authenticator.user_of(request.headers, peer)
        if user is None:
            entry.decision = "unauthenticated"
            raise unauthorized()
        target = impersonated(request.headers)
        if target is not None:
            for check in impersonation_checks(user, target, target.uid, dict(target.extra)):
                decision = self.core.authorizer.authorize(check)
                if not decision.allowed:
                    entry.user, entry.groups, entry.decision = user.username, user.groups, "deny"
                    raise forbidden(check, decision.reason)
            user = target
        request[REQUEST_USER] = user
        entry.user, entry.groups = user.username, user.groups
        authorizer = self.core.authorizer
        if authorizer is ALWAYS_ALLOW:
            entry.decision = "allow"  # it reads nothing: no attributes are made for it
        else:
            attributes = _attributes(user, info, request)
            decision = authorizer.authorize(attributes)
            entry.decision = "allow" if decision.allowed else "deny"
            entry.reason = decision.reason
            if not decision.allowed:
                raise forbidden(attributes, decision.reason)
        selector = request.query.get("labelSelector", "")
        if len(selector) > self.settings.max_label_selector:
            raise bad_request(f"labelSelector is {len(selector)} characters long, more than "
                              f"the {self.settings.max_label_selector} this server accepts")

    async def _faulted(
        self, request: web.Request, info: RequestInfo,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        faults = self.faults
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
        # Not through the serializer: kube-apiserver writes /version with Go's
        # json.MarshalIndent (two spaces, no final newline; responsewriters.WriteRawJSON).
        return web.Response(text=json.dumps(VERSION_INFO, indent=2), content_type=JSON)

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
            for sub, (kind, verbs) in sorted(info.strategy.connect_subresources.items()):
                resources.append({
                    "name": f"{info.plural}/{sub}", "singularName": "",
                    "namespaced": info.namespaced, "kind": kind, "verbs": list(verbs),
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

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        """Swagger 2.0 as protobuf when asked for it (kubectl asks for nothing else), else JSON.
        Made in a worker thread: it holds every group-version's schemas, some 0.3 s of work."""
        protobuf = "protobuf" in request.headers.get("Accept", "")
        key = "v2 protobuf" if protobuf else "v2"
        docs = self._openapi_docs()
        if key not in docs:
            resources = list(self.core.registry.all())
            docs[key] = await asyncio.to_thread(_openapi_v2_body, resources, protobuf)
        content_type = _openapi_v2.PROTOBUF if protobuf else JSON
        return web.Response(body=docs[key], content_type=content_type)

    # -- resources ------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        info = request[REQUEST_INFO]
        if info.discovery:
            if request.method != "GET":
                raise method_not_allowed()
            return self._group_or_resources(request.path)
        if (info.group, info.plural, info.subresource, info.verb) == (
                "", "serviceaccounts", "token", "create") and info.name and info.namespace:
            return await self._token_request(request, info)
        resource = self.core.registry.get(info.group, info.version, info.plural)
        connect = resource.strategy.connect_subresources if resource is not None else {}
        if resource is not None and info.name and info.subresource and \
                info.subresource in connect:
            self.core.get(resource, info.namespace, info.name)  # a missing Pod is a 404 first
            raise resource.strategy.connect(info.subresource)
        if resource is None or not self._shape_fits(resource, info):
            raise ApiStatusError(404, "the server could not find the requested resource")
        handler = getattr(self, f"_verb_{info.verb}", None)
        if handler is None or not _route_takes(resource, info) or not _serves_verb(resource, info):
            raise method_not_allowed()
        response: web.StreamResponse = await handler(request, resource, info)
        return response

    async def _token_request(self, request: web.Request, info: RequestInfo) -> web.Response:
        assert info.name is not None
        accounts = self.core.registry.get("", "v1", "serviceaccounts")
        assert accounts is not None
        account = self.core.get(accounts, info.namespace, info.name)
        raw = await _read_raw(request)
        body: Any = {}
        if raw.strip():  # kubectl's TokenRequest comes as protobuf, others' as JSON
            protobuf = media_type_of(request.headers.get("Content-Type", "")) == PROTOBUF
            try:
                body = decode_object(raw) if protobuf else load_json(raw)
            except DecodeError as e:
                raise bad_request(str(e)) from e
        return json_response(token_request(account, body, self.core.authenticator), 201)

    @staticmethod
    def _shape_fits(resource: ResourceInfo, info: RequestInfo) -> bool:
        if info.subresource is not None and info.subresource not in resource.subresources:
            return False
        if resource.namespaced:
            # A namespaced object is addressed in its namespace; only collections span them all.
            return info.namespace is not None or info.name is None
        return info.namespace is None

    async def _verb_get(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                        ) -> web.StreamResponse:
        assert info.name is not None
        obj = self.core.get(res, info.namespace, info.name)
        if info.subresource == "scale":
            return json_response(res.strategy.scale_of(obj))
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

    def _write_options(self, request: web.Request, field_validation: str | None = None,
                       ) -> WriteOptions:
        return WriteOptions(
            user=request[REQUEST_USER], dry_run=_dry_run(request),
            field_validation=field_validation or _field_validation(request),
            field_manager=request.query.get("fieldManager"),
        )

    async def _verb_create(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                           ) -> web.StreamResponse:
        if info.subresource is not None:
            raise method_not_allowed()
        field_validation = _field_validation(request)
        body, warnings = await _read_body(request, res, field_validation)
        obj = await self.writes.create(res, info.namespace, body,
                                       options=self._write_options(request, field_validation),
                                       warnings=warnings)
        return self._render(request, res, [obj], single=True, status=201, warnings=warnings)

    async def _verb_update(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                           ) -> web.StreamResponse:
        assert info.name is not None
        field_validation = _field_validation(request)
        body, warnings = await _read_body(request, res, field_validation)
        if info.subresource == "scale":
            obj = self.core.update_scale(res, info.namespace, info.name, body,
                                         dry_run=_dry_run(request))
            return json_response(res.strategy.scale_of(obj))
        obj = await self.writes.update(
            res, info.namespace, info.name, body, subresource=info.subresource,
            options=self._write_options(request, field_validation), warnings=warnings,
        )
        return self._render(request, res, [present(res, obj)], single=True, warnings=warnings)

    async def _verb_patch(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                          ) -> web.StreamResponse:
        assert info.name is not None
        patch_type = negotiate(request.headers.get("Content-Type", ""), _patching.PATCH_TYPES,
                               custom=res.custom)
        raw = await _read_raw(request)
        # Without a field manager, the core's 422 comes first.
        if patch_type.media_type == _patching.APPLY and request.query.get("fieldManager"):
            raw = await _apply_body_as_json(raw)
        if info.subresource == "scale":
            obj = self.core.patch_scale(res, info.namespace, info.name, patch_type, raw,
                                        dry_run=_dry_run(request))
            return json_response(res.strategy.scale_of(obj))
        field_validation = _field_validation(request)
        warnings: list[str] = []
        if patch_type.media_type in _MERGED_PATCHES:
            warnings = _duplicates_checked(raw, field_validation)
        obj, created = await self.writes.patch(
            res, info.namespace, info.name, patch_type, raw, subresource=info.subresource,
            force=request.query.get("force") in ("true", "1"),
            options=self._write_options(request, field_validation), warnings=warnings,
        )
        return self._render(request, res, [present(res, obj)], single=True,
                            status=201 if created else 200, warnings=warnings)

    async def _verb_delete(self, request: web.Request, res: ResourceInfo, info: RequestInfo,
                           ) -> web.StreamResponse:
        assert info.name is not None
        options = await _delete_options(request, res)
        warnings: list[str] = []
        obj, gone = await self.writes.delete(res, info.namespace, info.name, options,
                                             options=self._write_options(request),
                                             warnings=warnings)
        if gone and not res.strategy.returns_deleted:
            # Most kinds answer a deletion that is done with a Status; a few with the object.
            return json_response(success_status(
                name=info.name, group=res.group, plural=res.plural,
                uid=obj["metadata"].get("uid"),
            ), headers=_warning_headers(warnings))
        # Still there (finalizers, a namespace's termination): the object, as every kind
        # answers then; 202 only when asked not to orphan, as kube-apiserver's DELETE handler
        # (it keeps 200 otherwise for the clients that expect it).
        accepted = not gone and options.get("orphanDependents") is False
        return self._render(request, res, [present(res, obj)], single=True,
                            status=202 if accepted else 200, warnings=warnings)

    async def _verb_deletecollection(
        self, request: web.Request, res: ResourceInfo, info: RequestInfo,
    ) -> web.StreamResponse:
        q = request.query
        selection = Selection(res, info.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        options = await _delete_options(request, res)
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
        timeout = _float_param(q, "timeoutSeconds") or self.settings.watch_timeout
        include_object = None  # events carry objects; with it, one-row Tables (kubectl get -w)
        if _wants_table(request):
            self._table(request, res, [])  # a bad includeObject is a 400 before the stream
            include_object = q.get("includeObject", "Metadata")
        username = request[REQUEST_USER].username
        if self._watches_of[username] >= self.settings.max_watches_per_user:
            raise ApiStatusError(
                429, f'too many watches: user "{username}" has '
                f"{self._watches_of[username]} open, the most this server allows; close some "
                "or retry later", reason="TooManyRequests", retry_after=1)
        watcher, initial, ok = self.core.subscribe(
            res, selection, q.get("resourceVersion"), send_initial_events=send_initial,
        )
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        self.watches.add(watcher, request)
        self._watches_of[username] += 1
        try:
            await response.prepare(request)
            if not ok:
                rv = q.get("resourceVersion")
                gone = status_body(410, f"too old resource version: {rv} "
                                        f"({self.core.store.resource(res.key).compacted_rv})")
                await response.write(encode({"type": "ERROR", "object": gone}))
                return response
            faults, store = self.faults, self.core.store
            stream = WatchStream(res, selection, watcher, response, bookmarks,
                                 newest_rv=lambda: store.rv,
                                 bookmark_interval=self.settings.bookmark_interval,
                                 include_object=include_object,
                                 delay=lambda: faults.watch_delay_for(res))
            await stream.run(initial, end_marker=bool(send_initial), duration=timeout)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            watcher.close()
            self.watches.discard(watcher)
            self._watches_of[username] -= 1
            if not self._watches_of[username]:
                del self._watches_of[username]
        return response


def _attributes(user: UserInfo, info: RequestInfo, request: web.Request) -> Attributes:
    """What a request asks the authorizer, as kube-apiserver's request-info resolver makes the
    attributes: a namespace's own URL is in that namespace; a list or watch of one name (a
    ``metadata.name`` field selector) names it."""
    if info.discovery:
        return Attributes(user=user, verb=request.method.lower(), resource_request=False,
                          path=request.path)
    name = info.name or ""
    if not name and info.verb in ("list", "watch"):
        for term in request.query.get("fieldSelector", "").split(","):
            key, sep, value = term.partition("=")
            if key.strip() == "metadata.name" and sep and not value.startswith("="):
                name = value.strip()
            elif key.strip() == "metadata.name" and value.startswith("="):
                name = value[1:].strip()
    namespace = info.namespace or ""
    if not namespace and info.plural == "namespaces" and not info.group and info.name:
        namespace = info.name
    return Attributes(user=user, verb=info.verb, namespace=namespace, group=info.group,
                      version=info.version, resource=info.plural,
                      subresource=info.subresource or "", name=name)


def _serves_verb(resource: ResourceInfo, info: RequestInfo) -> bool:
    """Whether the resource has the verb at all: kube-apiserver installs a route only for the
    verbs its storage implements (a review is only created; namespaces are not deleted as a
    collection), and go-restful answers the others with a 405. Subresources take their own."""
    return info.subresource is not None or info.verb in resource.verbs


def _route_takes(resource: ResourceInfo, info: RequestInfo) -> bool:
    """Whether the URL's route takes the verb, as kube-apiserver installs its routes: a
    collection lists, watches, creates and deletes; across all namespaces it only lists and
    watches; an object is got, updated, patched and deleted. Others are a 405."""
    if info.name is not None:
        return info.verb not in COLLECTION_VERBS
    if resource.namespaced and info.namespace is None:
        return info.verb in ("list", "watch")
    return info.verb in COLLECTION_VERBS


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


def _openapi_v2_body(resources: list[ResourceInfo], protobuf: bool) -> bytes:
    document = _openapi_v2.openapi_v2_document(resources)
    return _openapi_proto.encode_document(document) if protobuf else orjson.dumps(document)


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
    return None if not value else _parse_int64(value)


def _parse_int64(value: str) -> int:
    """An integer query parameter, as kube-apiserver decodes one: Go's ``strconv.ParseInt(value,
    10, 64)``. Anything else is a 400 worded as Go words it: no fractions, exponents, spaces or
    ``NaN``, and nothing outside int64 (which Python's ``int()`` would take, and later choke on).
    """
    if _INT64_SYNTAX.fullmatch(value) is None:
        raise bad_request(f"strconv.ParseInt: parsing {_go_quote(value)}: invalid syntax")
    digits = value.lstrip("+-").lstrip("0")
    number = int(value) if len(digits) <= 19 else None  # int() refuses 4,300+ digits itself
    if number is None or not -(2**63) <= number < 2**63:
        raise bad_request(f"strconv.ParseInt: parsing {_go_quote(value)}: value out of range")
    return number


_INT64_SYNTAX = re.compile(r"[+-]?[0-9]+")


def _go_quote(value: str) -> str:
    """Go's ``%q`` of a string, near enough: double quotes, escaped quotes and backslashes."""
    return json.dumps(value, ensure_ascii=False)


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


def _body_too_large() -> ApiStatusError:
    return request_entity_too_large(f"limit is {MAX_REQUEST_BODY_BYTES}")


async def _read_raw(request: web.Request) -> bytes:
    """The request's body, refused with a 413 beyond kube-apiserver's limit: at once when its
    Content-Length says so, else once that much is read (aiohttp's ``client_max_size``)."""
    if (request.content_length or 0) > MAX_REQUEST_BODY_BYTES:
        raise _body_too_large()
    return await request.read()


async def _read_body(
    request: web.Request, resource: ResourceInfo, field_validation: str,
) -> tuple[Any, list[str]]:
    """A create's or an update's body, decoded as its media type says (415 before it is read,
    as kube-apiserver negotiates first), and the warnings its decoding gives (the repeated
    fields of a JSON body, as ``field_validation`` has them: see :func:`_duplicates_checked`).
    """
    decoding = body_type(request.headers.get("Content-Type", ""), custom=resource.custom)
    decode = decoding.decode
    if decode is None:
        raise not_spoken(decoding)
    raw = await _read_raw(request)
    if not raw:
        raise bad_request("the body of the request is empty")
    try:
        if decoding.off_loop:
            return await asyncio.to_thread(decode, raw), []
        body = decode(raw)
    except DecodeError as e:
        raise bad_request(f"error decoding {decoding.name}: {e}") from e
    return body, _duplicates_checked(raw, field_validation, body) if decode is load_json else []


# Patches whose JSON body is an object decoded as such, whose repeated keys count.
_MERGED_PATCHES = frozenset({
    "application/merge-patch+json", "application/strategic-merge-patch+json",
})


def _duplicates_checked(raw: bytes, field_validation: str, decoded: Any = None) -> list[str]:
    """The warnings of the fields a JSON body repeats, or a 400 if ``field_validation`` is
    ``Strict``: kube-apiserver's strict decoding errors (``Ignore``: none, unchecked).
    ``decoded``: the body, if it is decoded already."""
    if field_validation == "Ignore":
        return []
    repeated = [f'duplicate field "{path}"' for path in duplicate_fields(raw, decoded)]
    if repeated and field_validation == "Strict":
        raise bad_request(f"strict decoding error: {', '.join(repeated)}")
    return repeated


async def _apply_body_as_json(raw: bytes) -> bytes:
    """An apply body as JSON: as it came if it is JSON (as kubectl sends it), else decoded from
    YAML in a worker thread and encoded again.

    PyYAML is pure Python, some 7 µs a byte: a 3 MiB body would hold the loop, and every other
    request and watch with it, for some 20 s. The worker thread still takes its share of the
    GIL, but the loop keeps serving meanwhile. What is refused is refused as ``ApiCore`` would.
    """
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return await asyncio.to_thread(_yaml_apply_body_to_json, raw)
        except _patching.PatchError as e:
            raise ApiStatusError(e.status, e.message, reason=e.reason) from e
    return raw


def _yaml_apply_body_to_json(raw: bytes) -> bytes:
    configuration = _patching.decode_apply_body(raw)
    try:
        return orjson.dumps(configuration)
    except orjson.JSONEncodeError as e:  # a YAML set, an integer beyond 64 bits
        raise _patching.PatchError(f"error decoding YAML: {e}") from e


async def _delete_options(request: web.Request, resource: ResourceInfo) -> dict[str, Any]:
    """DeleteOptions from the body (JSON; protobuf from client-go's typed clients, built-ins
    only) and from the query, the query winning."""
    options: dict[str, Any] = {}
    content_type = request.headers.get("Content-Type", "")
    decode: Callable[[bytes], Any] = load_json
    if media_type_of(content_type) == PROTOBUF:
        decode = body_type(content_type, custom=resource.custom).decode or load_json
    raw = await _read_raw(request)
    if raw:
        try:
            body = decode(raw)
        except DecodeError as e:
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
