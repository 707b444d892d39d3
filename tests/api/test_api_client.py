"""The API client against the embedded API server, over real HTTP on the test's own loop:
CRUD, every patch type, pagination, watches (resume, bookmarks, 410), typed errors from real
answers and injected faults, transport failures that never leak aiohttp, and credentials."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import pytest
import yaml

import kopf_informers
import kopf_informers.errors
from kopf_informers import (
    AlreadyExistsError,
    ApiClient,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    ConflictError,
    CredentialsError,
    ForbiddenError,
    GoneError,
    InvalidArgumentError,
    InvalidError,
    KopfInformersError,
    NotFoundError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
    UnknownResourceError,
    WatchEvent,
)
from kopf_informers.testing import EmbeddedApiServer

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=0.2)

CM = "v1/configmaps"
DEPLOY = "apps/v1/deployments"
WAIT = 10.0  # seconds: the bound of every wait for an event


@pytest.fixture
def client(api: ApiClient) -> ApiClient:
    """The client under test."""
    return api


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": "test"}}, "data": data}


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                {"name": "main", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
            ]}},
        },
    }


async def next_event(
    events: AsyncGenerator[WatchEvent, None], *, skip_bookmarks: bool = True,
) -> WatchEvent:
    async with asyncio.timeout(WAIT):
        async for event in events:
            if not (skip_bookmarks and event.type == "BOOKMARK"):
                return event
    raise AssertionError("the watch ended before the expected event")


def rv(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


# -- CRUD ------------------------------------------------------------------------------------------


async def test_a_configmap_is_created_read_listed_replaced_and_deleted(client: ApiClient) -> None:
    created = await client.create(CM, configmap("cm1", a="1"), namespace="default")
    assert created["apiVersion"] == "v1"
    assert created["kind"] == "ConfigMap"
    assert created["metadata"]["namespace"] == "default"

    got = await client.get(CM, "cm1", namespace="default")
    assert got["data"] == {"a": "1"}

    listed = await client.list(CM, namespace="default")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["cm1"]
    assert all(item["kind"] == "ConfigMap" for item in listed["items"])

    got["data"] = {"b": "2"}
    replaced = await client.replace(CM, got)
    assert replaced["data"] == {"b": "2"}
    assert int(rv(replaced)) > int(rv(got))

    await client.delete(CM, "cm1", namespace="default")
    with pytest.raises(NotFoundError):
        await client.get(CM, "cm1", namespace="default")


async def test_a_deployment_is_created_replaced_and_deleted_in_its_group_version(
    client: ApiClient,
) -> None:
    created = await client.create(DEPLOY, deployment("web"))
    assert created["metadata"]["generation"] == 1
    created["spec"]["replicas"] = 3
    replaced = await client.replace(DEPLOY, created)
    assert replaced["spec"]["replicas"] == 3
    assert replaced["metadata"]["generation"] == 2
    info = await client.discover(DEPLOY)
    assert (info.kind, info.namespaced, info.api_version) == ("Deployment", True, "apps/v1")
    assert {"status", "scale"} <= info.subresources
    await client.delete(DEPLOY, "web", namespace="default", propagation_policy="Background")
    with pytest.raises(NotFoundError):
        await client.get(DEPLOY, "web", namespace="default")


async def test_the_namespace_defaults_to_the_kubeconfig_contexts(client: ApiClient) -> None:
    await client.create(CM, configmap("implicit"))
    assert (await client.get(CM, "implicit", namespace="default"))["metadata"]["name"]


async def test_cluster_scoped_resources_take_no_namespace(client: ApiClient) -> None:
    created = await client.create("v1/namespaces", {"metadata": {"name": "team-a"}})
    assert created["kind"] == "Namespace"
    assert (await client.get("v1/namespaces", "team-a"))["metadata"]["name"] == "team-a"
    with pytest.raises(InvalidArgumentError, match="cluster-scoped"):
        await client.get("v1/namespaces", "team-a", namespace="default")


async def test_replace_with_a_stale_resource_version_is_a_conflict(client: ApiClient) -> None:
    first = await client.create(CM, configmap("cas"))
    await client.patch(CM, "cas", {"data": {"x": "1"}})
    with pytest.raises(ConflictError) as info:
        await client.replace(CM, first)
    assert not isinstance(info.value, AlreadyExistsError)
    assert info.value.reason == "Conflict"


async def test_delete_with_a_precondition_of_another_uid_is_a_conflict(client: ApiClient) -> None:
    await client.create(CM, configmap("guarded"))
    with pytest.raises(ConflictError, match="delete v1/configmaps default/guarded"):
        await client.delete(CM, "guarded", preconditions={"uid": "not-its-uid"})
    obj = await client.get(CM, "guarded")
    await client.delete(CM, "guarded", preconditions={"uid": obj["metadata"]["uid"],
                                                      "resourceVersion": rv(obj)})
    with pytest.raises(NotFoundError):
        await client.get(CM, "guarded")


async def test_a_foreground_delete_leaves_the_object_with_a_deletion_timestamp(
    client: ApiClient,
) -> None:
    await client.create(DEPLOY, deployment("fg"))
    answer = await client.delete(DEPLOY, "fg", propagation_policy="Foreground")
    assert answer["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in answer["metadata"]["finalizers"]


async def test_dry_run_writes_nothing(client: ApiClient) -> None:
    await client.create(CM, configmap("dry"), dry_run=True)
    with pytest.raises(NotFoundError):
        await client.get(CM, "dry")


# -- patches ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("patch_type", "patch", "expected_data"), [
    pytest.param("merge", {"data": {"b": "2", "a": None}}, {"b": "2"}, id="merge"),
    pytest.param("json", [{"op": "test", "path": "/data/a", "value": "1"},
                          {"op": "replace", "path": "/data/a", "value": "9"}],
                 {"a": "9"}, id="json"),
    pytest.param("strategic", {"data": {"c": "3"}}, {"a": "1", "c": "3"}, id="strategic"),
    pytest.param("apply", {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "p", "namespace": "default"},
                           "data": {"d": "4"}}, {"a": "1", "d": "4"}, id="apply"),
])
async def test_every_patch_type_patches_a_configmap(
    client: ApiClient, server: EmbeddedApiServer, patch_type: Any, patch: Any,
    expected_data: dict[str, str],
) -> None:
    await client.create(CM, configmap("p", a="1"))
    patched = await client.patch(CM, "p", patch, type=patch_type)
    assert patched["data"] == expected_data
    content_types = {e.content_type for e in server.journal.filter(method="PATCH")}
    assert len(content_types) == 1
    assert next(iter(content_types)).startswith(
        {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
         "strategic": "application/strategic-merge-patch+json",
         "apply": "application/apply-patch+yaml"}[patch_type])


async def test_a_strategic_merge_patch_merges_containers_by_name(client: ApiClient) -> None:
    await client.create(DEPLOY, deployment("smp"))
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:2"},
    ]}}}}
    patched = await client.patch(DEPLOY, "smp", patch, type="strategic")
    [container] = patched["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:2"
    assert container["env"] == [{"name": "A", "value": "1"}]  # kept: merged, not replaced


async def test_server_side_apply_records_the_field_manager(client: ApiClient) -> None:
    body = {"metadata": {"name": "ssa"}, "data": {"k": "v"}}
    created = await client.patch(CM, "ssa", body, type="apply", field_manager="my-operator")
    managers = {entry["manager"] for entry in created["metadata"].get("managedFields", [])}
    assert "my-operator" in managers


async def test_a_json_patch_whose_test_fails_is_invalid(client: ApiClient) -> None:
    await client.create(CM, configmap("jp", a="1"))
    with pytest.raises(InvalidError, match="patch v1/configmaps default/jp"):
        await client.patch(CM, "jp", [{"op": "test", "path": "/data/a", "value": "2"}],
                           type="json")


async def test_patch_status_changes_the_status_and_nothing_else(client: ApiClient) -> None:
    await client.create(DEPLOY, deployment("st", replicas=2))
    patched = await client.patch_status(
        DEPLOY, "st", {"status": {"observedGeneration": 42}, "spec": {"replicas": 7}},
    )
    assert patched["status"]["observedGeneration"] == 42
    assert patched["spec"]["replicas"] == 2


async def test_malformed_patch_arguments_are_refused_before_any_request(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    with pytest.raises(InvalidArgumentError, match="list of operations"):
        await client.patch(CM, "x", {"op": "add"}, type="json")
    with pytest.raises(InvalidArgumentError, match="force"):
        await client.patch(CM, "x", {}, type="merge", force=True)
    with pytest.raises(InvalidArgumentError, match="unknown patch type"):
        await client.patch(CM, "x", {}, type="yaml")  # type: ignore[arg-type]
    assert server.journal.filter(method="PATCH") == []


# -- path segments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".", ".."])
async def test_a_delete_of_a_dot_name_is_refused_and_deletes_nothing(
    client: ApiClient, server: EmbeddedApiServer, name: str,
) -> None:
    # "." would be sent as DELETE .../configmaps/ (a deletecollection), ".." as a DELETE of the
    # namespace: URLs drop such segments before they are sent.
    await client.create(CM, configmap("kept-1"))
    await client.create(CM, configmap("kept-2"))
    with pytest.raises(InvalidArgumentError) as info:
        await client.delete(CM, name, namespace="default")
    assert f"name={name!r}" in str(info.value)
    assert server.journal.filter(method="DELETE") == []
    listed = await client.list(CM, namespace="default")
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["kept-1", "kept-2"]
    assert (await client.get("v1/namespaces", "default"))["metadata"]["name"] == "default"


BAD_SEGMENTS = [
    pytest.param("", id="empty"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dot-dot"),
    pytest.param("a/b", id="slash"),
    pytest.param("../kube-system", id="climbing"),
    pytest.param("a%2Fb", id="percent"),
]


def calls_with(client: ApiClient, bad: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every method of the client with ``bad`` in each path segment it takes, by name."""

    async def first(items: AsyncGenerator[Any, None]) -> Any:
        async with contextlib.aclosing(items):
            return await anext(items)

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "get name": lambda: client.get(CM, bad),
        "get namespace": lambda: client.get(CM, "x", namespace=bad),
        "get subresource": lambda: client.get(DEPLOY, "x", subresource=bad),
        "list namespace": lambda: client.list(CM, namespace=bad),
        "list_all namespace": lambda: first(client.list_all(CM, namespace=bad)),
        "watch namespace": lambda: first(client.watch(CM, namespace=bad)),
        "create namespace": lambda: client.create(CM, configmap("x"), namespace=bad),
        "create metadata.namespace": lambda: client.create(
            CM, {"metadata": {"name": "x", "namespace": bad}}),
        "replace name": lambda: client.replace(CM, configmap("x"), name=bad),
        "replace metadata.name": lambda: client.replace(CM, configmap(bad)),
        "replace namespace": lambda: client.replace(CM, configmap("x"), namespace=bad),
        "replace subresource": lambda: client.replace(DEPLOY, deployment("x"), subresource=bad),
        "patch name": lambda: client.patch(CM, bad, {}),
        "patch namespace": lambda: client.patch(CM, "x", {}, namespace=bad),
        "patch subresource": lambda: client.patch(DEPLOY, "x", {}, subresource=bad),
        "patch_status name": lambda: client.patch_status(DEPLOY, bad, {}),
        "patch_status namespace": lambda: client.patch_status(DEPLOY, "x", {}, namespace=bad),
        "delete name": lambda: client.delete(CM, bad),
        "delete namespace": lambda: client.delete(CM, "x", namespace=bad),
    }
    if bad == "":  # an empty namespace in a body means "the request's", as on the server
        del calls["create metadata.namespace"]
    return calls


@pytest.mark.parametrize("bad", BAD_SEGMENTS)
async def test_every_method_refuses_a_malformed_path_segment_before_any_request(
    client: ApiClient, server: EmbeddedApiServer, bad: str,
) -> None:
    await client.create(CM, configmap("x"))
    await client.create(DEPLOY, deployment("x"))
    server.journal.clear()
    for call, make in calls_with(client, bad).items():
        with pytest.raises(InvalidArgumentError) as info:
            await make()
        parameter = call.split()[1].split(".")[-1]
        assert f"{parameter}=" in str(info.value), call
        assert not isinstance(info.value, UnknownResourceError), call
    assert [e.path for e in server.journal if e.resource] == []  # only discovery went out


@pytest.mark.parametrize("bad", [None, 1, b"x"])
async def test_a_name_that_is_not_a_string_is_refused_rather_than_addressing_the_collection(
    client: ApiClient, server: EmbeddedApiServer, bad: Any,
) -> None:
    await client.create(CM, configmap("kept"))
    calls = [lambda: client.get(CM, bad), lambda: client.delete(CM, bad),
             lambda: client.patch(CM, bad, {})]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="name="):
            await call()
    assert [e.method for e in server.journal if e.resource == "configmaps"] == ["POST"]
    assert (await client.get(CM, "kept"))["metadata"]["name"] == "kept"


async def test_names_the_server_allows_in_a_path_segment_are_sent_encoded(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    # RBAC names may hold colons; "..." and "a..b" are not the dot segments.
    for name in ("system:reader", "...", "a..b", ".hidden"):
        await client.create("rbac.authorization.k8s.io/v1/clusterroles",
                            {"metadata": {"name": name}, "rules": []})
        got = await client.get("rbac.authorization.k8s.io/v1/clusterroles", name)
        assert got["metadata"]["name"] == name
        await client.delete("rbac.authorization.k8s.io/v1/clusterroles", name)


# -- lists -----------------------------------------------------------------------------------------


async def test_list_all_follows_continue_tokens_over_several_pages(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    for i in range(7):
        await client.create(CM, configmap(f"page-{i}"))
    pages = [page async for page in client.list_all(CM, namespace="default", page_size=3)]
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    names = [item["metadata"]["name"] for page in pages for item in page["items"]]
    assert names == [f"page-{i}" for i in range(7)]
    assert len({page["metadata"]["resourceVersion"] for page in pages}) == 1
    queries = [e.query for e in server.journal.filter(verb="list", resource="configmaps")]
    assert [q.get("limit") for q in queries] == ["3", "3", "3"]
    assert "continue" not in queries[0]
    assert all("continue" in q for q in queries[1:])


async def test_list_all_pages_by_500_by_default(client: ApiClient,
                                                server: EmbeddedApiServer) -> None:
    assert [page["items"] async for page in client.list_all(CM, namespace="default")] == [[]]
    [entry] = server.journal.filter(verb="list", resource="configmaps")
    assert entry.query["limit"] == "500"


async def test_list_all_raises_gone_when_its_continue_token_expires(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    for i in range(4):
        await client.create(CM, configmap(f"exp-{i}"))
    pages = client.list_all(CM, page_size=2)
    async with contextlib.aclosing(pages):
        first = await anext(pages)
        assert first["metadata"]["continue"]
        server.faults.expire_history()
        with pytest.raises(GoneError) as info:
            await anext(pages)
    assert info.value.status == 410
    assert "list v1/configmaps" in str(info.value)


async def test_list_filters_by_label_and_field_selectors(client: ApiClient) -> None:
    await client.create(CM, {"metadata": {"name": "red", "labels": {"color": "red"}}})
    await client.create(CM, {"metadata": {"name": "blue", "labels": {"color": "blue"}}})
    by_label = await client.list(CM, label_selector="color in (red)")
    assert [i["metadata"]["name"] for i in by_label["items"]] == ["red"]
    by_field = await client.list(CM, field_selector="metadata.name=blue")
    assert [i["metadata"]["name"] for i in by_field["items"]] == ["blue"]


# -- watches ---------------------------------------------------------------------------------------


async def test_a_watch_from_a_lists_resource_version_sees_only_later_events(
    client: ApiClient,
) -> None:
    await client.create(CM, configmap("before"))
    listed = await client.list(CM, namespace="default")
    events = client.watch(CM, namespace="default", resource_version=rv(listed))
    async with contextlib.aclosing(events):
        await client.create(CM, configmap("after"))
        await client.patch(CM, "before", {"data": {"x": "1"}})
        await client.delete(CM, "after")
        seen = [await next_event(events) for _ in range(3)]
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after"),
    ]
    assert all(isinstance(e, WatchEvent) for e in seen)


async def test_a_watch_sends_bookmarks_with_the_latest_resource_version(
    client: ApiClient,
) -> None:
    created = await client.create(CM, configmap("bm"))
    events = client.watch(CM, resource_version=rv(created))
    async with contextlib.aclosing(events):
        bookmark = await next_event(events, skip_bookmarks=False)
    assert bookmark.type == "BOOKMARK"
    assert int(bookmark.object["metadata"]["resourceVersion"]) >= int(rv(created))


async def test_a_watch_without_bookmarks_allowed_gets_none(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    created = await client.create(CM, configmap("nobm"))
    events = client.watch(CM, resource_version=rv(created), allow_bookmarks=False,
                          timeout_seconds=1)
    async with contextlib.aclosing(events), asyncio.timeout(WAIT):
        assert [e async for e in events] == []
    [entry] = server.journal.filter(verb="watch")
    assert "allowWatchBookmarks" not in entry.query


async def test_a_watch_with_initial_events_ends_them_with_an_annotated_bookmark(
    client: ApiClient,
) -> None:
    await client.create(CM, configmap("one"))
    await client.create(CM, configmap("two"))
    events = client.watch(CM, namespace="default", send_initial_events=True)
    seen: list[WatchEvent] = []
    async with contextlib.aclosing(events), asyncio.timeout(WAIT):
        async for event in events:
            seen.append(event)
            if event.type == "BOOKMARK" and event.object["metadata"].get("annotations"):
                break
    assert [e.object["metadata"]["name"] for e in seen if e.type == "ADDED"] == ["one", "two"]
    annotations = seen[-1].object["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


async def test_a_watch_resuming_from_compacted_history_raises_gone_in_the_stream(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    created = await client.create(CM, configmap("old"))
    await client.patch(CM, "old", {"data": {"x": "1"}})
    server.faults.expire_history()
    events = client.watch(CM, resource_version=rv(created))
    async with contextlib.aclosing(events):
        with pytest.raises(GoneError) as info:
            await next_event(events)
    assert info.value.status == 410
    assert info.value.reason == "Expired"
    assert "watch v1/configmaps" in str(info.value)
    [entry] = server.journal.filter(verb="watch")
    assert entry.status == 200  # the 410 came inside the stream, not as the HTTP status


async def test_a_watch_ends_when_its_server_side_timeout_passes(client: ApiClient) -> None:
    listed = await client.list(CM)
    events = client.watch(CM, resource_version=rv(listed), timeout_seconds=1)
    async with contextlib.aclosing(events), asyncio.timeout(WAIT):
        assert {e.type async for e in events} <= {"BOOKMARK"}


async def test_a_silent_watch_ends_after_the_client_side_inactivity_timeout(
    client: ApiClient,
) -> None:
    listed = await client.list(CM)
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = client.watch(CM, resource_version=rv(listed), allow_bookmarks=False,
                          inactivity_timeout=0.3)
    async with contextlib.aclosing(events), asyncio.timeout(WAIT):
        assert [e async for e in events] == []
    assert 0.25 <= loop.time() - started < WAIT


async def test_a_watch_cut_off_abruptly_is_a_connection_error(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    listed = await client.list(CM)
    events = client.watch(CM, resource_version=rv(listed))
    async with contextlib.aclosing(events):
        await next_event(events, skip_bookmarks=False)  # the stream is open
        server.faults.drop_watches(abrupt=True)
        with pytest.raises(ApiConnectionError) as info:
            await next_event(events)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


# -- typed errors ----------------------------------------------------------------------------------


async def test_errors_from_real_answers_have_their_classes_and_name_the_request(
    client: ApiClient,
) -> None:
    await client.create(CM, configmap("taken"))
    with pytest.raises(NotFoundError) as not_found:
        await client.get(CM, "absent")
    assert str(not_found.value).startswith("get v1/configmaps default/absent: 404 NotFound: ")
    assert (not_found.value.verb, not_found.value.resource, not_found.value.namespace,
            not_found.value.name) == ("get", CM, "default", "absent")

    with pytest.raises(AlreadyExistsError) as exists:
        await client.create(CM, configmap("taken"))
    assert isinstance(exists.value, ConflictError)
    assert exists.value.reason == "AlreadyExists"
    assert "create v1/configmaps default/taken: 409 AlreadyExists" in str(exists.value)

    with pytest.raises(InvalidError) as invalid:
        await client.create(CM, configmap("Not_Valid"))
    assert [cause.field for cause in invalid.value.causes] == ["metadata.name"]
    assert "create v1/configmaps default/Not_Valid: 422 Invalid" in str(invalid.value)

    with pytest.raises(BadRequestError) as bad:
        await client.list(CM, namespace="default", label_selector="a in (")
    assert str(bad.value).startswith("list v1/configmaps in namespace default: 400 BadRequest")


@pytest.mark.parametrize(("status", "error_class"), [
    pytest.param(400, BadRequestError, id="400"),
    pytest.param(401, UnauthorizedError, id="401"),
    pytest.param(403, ForbiddenError, id="403"),
    pytest.param(404, NotFoundError, id="404"),
    pytest.param(409, ConflictError, id="409"),
    pytest.param(410, GoneError, id="410"),
    pytest.param(422, InvalidError, id="422"),
    pytest.param(429, TooManyRequestsError, id="429"),
    pytest.param(500, ServerError, id="500"),
    pytest.param(503, ServerError, id="503"),
    pytest.param(405, ApiError, id="405-other"),
])
async def test_injected_error_answers_raise_the_class_of_their_status(
    client: ApiClient, server: EmbeddedApiServer, status: int, error_class: type[ApiError],
) -> None:
    await client.create(CM, configmap("target"))
    server.faults.fail("get", "configmaps", status, count=2)  # 401: also after re-login
    with pytest.raises(error_class) as info:
        await client.get(CM, "target")
    assert info.value.status == status
    assert str(info.value).startswith(f"get v1/configmaps default/target: {status} ")


async def test_a_429_says_when_to_retry(client: ApiClient, server: EmbeddedApiServer) -> None:
    await client.create(CM, configmap("busy"))
    server.faults.fail("patch", "configmaps", 429, retry_after=7)
    with pytest.raises(TooManyRequestsError) as info:
        await client.patch(CM, "busy", {"data": {"x": "1"}})
    assert info.value.retry_after == 7.0
    assert info.value.details.get("retryAfterSeconds") == 7


async def test_an_injected_error_on_a_watch_is_raised_when_it_starts(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    server.faults.fail("watch", "configmaps", 403)
    events = client.watch(CM)
    async with contextlib.aclosing(events):
        with pytest.raises(ForbiddenError, match="watch v1/configmaps: 403"):
            await next_event(events)


async def test_an_unknown_resource_names_itself_and_what_the_server_serves(
    client: ApiClient,
) -> None:
    with pytest.raises(UnknownResourceError) as plural:
        await client.get("apps/v1/deploymentz", "x")
    assert "apps/v1/deploymentz" in str(plural.value)
    assert "deployments" in str(plural.value)
    with pytest.raises(UnknownResourceError) as group:
        await client.list("example.com/v1/widgets")
    assert "example.com/v1" in str(group.value)
    assert "apps/v1" in str(group.value)


async def test_a_resource_in_the_wrong_group_version_is_pointed_to_where_it_is_served(
    client: ApiClient,
) -> None:
    with pytest.raises(UnknownResourceError, match=r"'v1/deployments' \(did you mean "
                                                   r"'apps/v1/deployments'\?\)"):
        await client.discover("v1/deployments")
    with pytest.raises(UnknownResourceError, match=r"\(did you mean 'apps/v1/deployments'\?\)"
                                                   r": it serves no group version 'apps/v1beta1'"):
        await client.discover("apps/v1beta1/deployments")
    with pytest.raises(UnknownResourceError) as nowhere:
        await client.discover("apps/v1/foos")
    assert "did you mean" not in str(nowhere.value)


@pytest.mark.parametrize(("resource", "hint"), [
    ("deployments", "(did you mean 'apps/v1/deployments'?)"),
    ("apps/deployments", "(did you mean 'apps/v1/deployments'?)"),
    ("deployments.apps", "(did you mean 'apps/v1/deployments'?)"),
    ("pods", "(did you mean 'v1/pods'?)"),
    ("foos", "(give its group and version, e.g. 'example.com/v1/foos'; 'kubectl api-resources'"),
    ("foos.samplecontroller.k8s.io", "(did you mean 'samplecontroller.k8s.io/<version>/foos'? "
                                     "'kubectl api-resources --api-group=samplecontroller.k8s.io'"),
])
def test_a_resource_without_its_group_or_version_gets_a_true_hint(resource: str,
                                                                  hint: str) -> None:
    def reconciler(**_: Any) -> None: ...

    with pytest.raises(InvalidArgumentError) as error:  # when decorating, not at startup
        kopf_informers.reconcile(resource, registry=kopf.OperatorRegistry())(reconciler)
    assert hint in str(error.value)
    assert "'v1/foos'" not in str(error.value)


@pytest.mark.parametrize("resource", [
    "configmaps", "apps/deployments", "v1/ConfigMaps", "", "v1/.", "v1/..", "../v1/configmaps",
    "./v1/configmaps", "v1//configmaps", "apps/v1/deploy%2Fments", "apps/../deployments",
])
async def test_a_malformed_resource_name_is_refused_with_a_hint(
    client: ApiClient, resource: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"group/version/plural|malformed"):
        await client.get(resource, "x")


async def test_discovery_is_cached_per_group_version(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    await client.discover(DEPLOY)
    await client.discover("apps/v1/statefulsets")
    await client.list(DEPLOY)
    discovery = [e for e in server.journal if e.path == "/apis/apps/v1"]
    assert len(discovery) == 1


# -- transport failures ----------------------------------------------------------------------------


def every_public_call(client: ApiClient) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One call of every public request method (the async generators to their first item)."""

    async def first(items: AsyncGenerator[Any, None]) -> Any:
        async with contextlib.aclosing(items):
            return await anext(items)

    return {
        "discover": lambda: client.discover("batch/v1/jobs"),
        "get": lambda: client.get(CM, "x"),
        "list": lambda: client.list(CM),
        "list_all": lambda: first(client.list_all(CM)),
        "create": lambda: client.create(CM, configmap("x")),
        "replace": lambda: client.replace(CM, configmap("x")),
        "patch": lambda: client.patch(CM, "x", {"data": {}}),
        "patch_status": lambda: client.patch_status(DEPLOY, "x", {"status": {}}),
        "delete": lambda: client.delete(CM, "x"),
        "watch": lambda: first(client.watch(CM, inactivity_timeout=0.5)),
    }


def test_every_public_method_of_the_client_is_covered_by_the_transport_tests() -> None:
    public = {name for name, member in inspect.getmembers(ApiClient)
              if not name.startswith("_") and callable(member)
              and name not in ("from_connection_info", "from_kubeconfig", "autodetect", "close")}
    assert public == set(every_public_call(ApiClient.from_connection_info(
        kopf.ConnectionInfo(server="http://127.0.0.1:1"))))


async def test_connection_refused_is_an_api_connection_error(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    await client.discover(CM)
    server.faults.pause()
    with pytest.raises(ApiConnectionError) as info:
        await client.get(CM, "x")
    assert str(info.value).startswith(f"get v1/configmaps default/x: failed to talk to "
                                      f"{server.url}")
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    server.faults.resume()


async def test_no_aiohttp_exception_leaks_from_any_method_when_connections_are_refused(
    client: ApiClient, server: EmbeddedApiServer,
) -> None:
    for resource in (CM, DEPLOY):
        await client.discover(resource)  # so that each method fails in its own request
    server.faults.pause()
    for name, call in every_public_call(client).items():
        with pytest.raises(ApiConnectionError) as info:
            await call()
        assert not isinstance(info.value, aiohttp.ClientError), name
        assert isinstance(info.value.__cause__, aiohttp.ClientError), name


async def test_no_aiohttp_exception_leaks_from_any_method_when_requests_time_out(
    server: EmbeddedApiServer,
) -> None:
    async with ApiClient.from_kubeconfig(server.kubeconfig, request_timeout=0.3) as client:
        for resource in (CM, DEPLOY):
            await client.discover(resource)
        server.faults.add_latency(5.0)
        for name, call in every_public_call(client).items():
            with pytest.raises(ApiTimeoutError) as info:
                async with asyncio.timeout(WAIT):
                    await call()
            assert isinstance(info.value, ApiConnectionError), name
            assert not isinstance(info.value, aiohttp.ClientError), name
        server.faults.clear()


async def test_a_server_that_was_never_there_is_an_api_connection_error() -> None:
    info = kopf.ConnectionInfo(server="http://127.0.0.1:9")  # the discard port: refused
    async with ApiClient.from_connection_info(info) as client:
        for name, call in every_public_call(client).items():
            with pytest.raises(KopfInformersError) as caught:
                await call()
            assert isinstance(caught.value, ApiConnectionError), name


def test_no_error_class_derives_from_an_aiohttp_exception() -> None:
    classes = [value for value in vars(kopf_informers.errors).values()
               if isinstance(value, type) and issubclass(value, BaseException)]
    assert ApiConnectionError in classes
    assert ApiError in classes
    for cls in classes:
        for base in cls.__mro__:
            assert not base.__module__.startswith("aiohttp"), (cls, base)
        assert issubclass(cls, KopfInformersError)


async def test_a_closed_client_refuses_requests(server: EmbeddedApiServer) -> None:
    client = ApiClient.from_kubeconfig(server.kubeconfig)
    await client.list(CM)
    await client.close()
    await client.close()  # idempotent
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.list(CM)


async def test_closing_the_client_ends_the_watches_being_read(server: EmbeddedApiServer) -> None:
    client = ApiClient.from_kubeconfig(server.kubeconfig)
    listed = await client.list(CM)
    events = client.watch(CM, resource_version=rv(listed))
    async with contextlib.aclosing(events):
        await next_event(events, skip_bookmarks=False)  # the stream is open
        await client.close()
        async with asyncio.timeout(WAIT):
            assert {e.type async for e in events} <= {"BOOKMARK"}


# -- credentials -----------------------------------------------------------------------------------


async def test_a_kopf_connection_info_is_used_as_it_is(server: EmbeddedApiServer) -> None:
    info = kopf.ConnectionInfo(server=server.url, token="abc", default_namespace="kube-system")
    async with ApiClient.from_connection_info(info) as client:
        created = await client.create(CM, configmap("from-info"))
        assert created["metadata"]["namespace"] == "kube-system"
        assert client.connection_info is info
    [entry] = server.journal.filter(verb="create")
    assert entry.user_agent.startswith("kopf-informers/")


async def test_autodetect_reads_the_kubeconfig_named_by_the_kubeconfig_variable(
    server: EmbeddedApiServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("kopf_informers._api.credentials.SERVICE_ACCOUNT_TOKEN",
                        "/nonexistent/token")
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
    client = await ApiClient.autodetect()
    async with client:
        assert client.connection_info is not None
        assert client.connection_info.server == server.url
        assert client.connection_info.token == "embedded-apiserver-token"
        assert client.connection_info.default_namespace == "default"
        assert (await client.list(CM))["kind"] == "ConfigMapList"


async def test_autodetect_falls_back_to_the_home_kubeconfig(
    server: EmbeddedApiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setattr("kopf_informers._api.credentials.SERVICE_ACCOUNT_TOKEN",
                        "/nonexistent/token")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(server.kubeconfig.read_text())
    async with await ApiClient.autodetect() as client:
        assert (await client.list(CM))["kind"] == "ConfigMapList"


async def test_autodetect_without_any_credentials_is_a_credentials_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setattr("kopf_informers._api.credentials.SERVICE_ACCOUNT_TOKEN",
                        "/nonexistent/token")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(CredentialsError, match="no credentials found"):
        await ApiClient.autodetect()


def write_kubeconfig(path: Path, server: str, *, contexts: dict[str, dict[str, Any]],
                     users: dict[str, dict[str, Any]], current: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": name, "user": user} for name, user in users.items()],
        "contexts": [{"name": name, "context": {"cluster": "c", **ctx}}
                     for name, ctx in contexts.items()],
    }))
    return path


async def test_a_chosen_context_with_a_relative_token_file_is_used(
    server: EmbeddedApiServer, tmp_path: Path,
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("from-a-file\n")
    path = write_kubeconfig(
        tmp_path / "config", server.url, current="main",
        contexts={"main": {"user": "u1"}, "other": {"user": "u2", "namespace": "kube-system"}},
        users={"u1": {"token": "t1"}, "u2": {"tokenFile": "secrets/token"}},
    )
    async with ApiClient.from_kubeconfig(path, context="other") as client:
        await client.list(CM)
        info = client.connection_info
        assert info is not None
        assert (info.token, info.default_namespace) == ("from-a-file", "kube-system")


@pytest.mark.parametrize(("context", "message"), [
    pytest.param("missing", "no context 'missing'", id="unknown-context"),
])
def test_an_unknown_context_is_a_credentials_error_listing_the_known_ones(
    server: EmbeddedApiServer, context: str, message: str,
) -> None:
    with pytest.raises(CredentialsError, match=message) as info:
        ApiClient.from_kubeconfig(server.kubeconfig, context=context)
    assert "embedded" in str(info.value)


def test_a_missing_kubeconfig_is_a_credentials_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        ApiClient.from_kubeconfig(tmp_path / "nope")


async def test_a_401_logs_in_again_once_and_repeats_the_request(
    server: EmbeddedApiServer,
) -> None:
    logins = 0

    async def login() -> kopf.ConnectionInfo:
        nonlocal logins
        logins += 1
        return kopf.ConnectionInfo(server=server.url, token=f"token-{logins}",
                                   default_namespace="default")

    async with ApiClient(login=login) as client:
        await client.create(CM, configmap("auth"))
        assert logins == 1
        server.faults.fail("get", "configmaps", 401)
        assert (await client.get(CM, "auth"))["metadata"]["name"] == "auth"
        assert logins == 2
        assert client.connection_info is not None
        assert client.connection_info.token == "token-2"

        server.faults.fail("get", "configmaps", 401, count=2)
        with pytest.raises(UnauthorizedError, match="after logging in again"):
            await client.get(CM, "auth")
        assert logins == 3  # once per request, never in a loop


async def test_a_401_rereads_the_kubeconfig(server: EmbeddedApiServer, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", server.url, current="main",
                            contexts={"main": {"user": "u", "namespace": "default"}},
                            users={"u": {"token": "old"}})
    async with ApiClient.from_kubeconfig(path) as client:
        await client.list(CM)
        write_kubeconfig(path, server.url, current="main",
                         contexts={"main": {"user": "u", "namespace": "default"}},
                         users={"u": {"token": "rotated"}})
        server.faults.fail("list", "configmaps", 401)
        await client.list(CM)
        assert client.connection_info is not None
        assert client.connection_info.token == "rotated"


async def test_expired_credentials_are_renewed_before_the_request(
    server: EmbeddedApiServer,
) -> None:
    logins = 0

    async def login() -> kopf.ConnectionInfo:
        nonlocal logins
        logins += 1
        lifetime = datetime.timedelta(seconds=1 if logins == 1 else 3600)
        expiration = datetime.datetime.now(datetime.UTC) + lifetime
        return kopf.ConnectionInfo(server=server.url, token=f"token-{logins}",
                                   expiration=expiration)

    async with ApiClient(login=login) as client:
        for _ in range(3):
            await client.list(CM)
        assert client.connection_info is not None
        assert client.connection_info.token == "token-2"
    assert logins == 2  # the first expired within the safety margin; the second did not


async def test_concurrent_first_requests_log_in_once(server: EmbeddedApiServer) -> None:
    logins = 0

    async def login() -> kopf.ConnectionInfo:
        nonlocal logins
        logins += 1
        await asyncio.sleep(0)  # let the other requests queue up behind this login
        return kopf.ConnectionInfo(server=server.url, token="t")

    async with ApiClient(login=login) as client:
        await asyncio.gather(*(client.list(CM) for _ in range(5)))
    assert logins == 1


async def test_tls_material_that_does_not_load_is_a_credentials_error(tmp_path: Path) -> None:
    info = kopf.ConnectionInfo(server="https://127.0.0.1:9", ca_path=tmp_path / "no-such-ca.crt")
    async with ApiClient.from_connection_info(info) as client:
        with pytest.raises(CredentialsError, match=r"TLS settings for https://127\.0\.0\.1:9"):
            await client.list(CM)


async def test_a_failing_login_is_a_credentials_error(server: EmbeddedApiServer) -> None:
    async def login() -> kopf.ConnectionInfo:
        raise aiohttp.ClientConnectionError("the token service is down")

    async with ApiClient(login=login) as client:
        with pytest.raises(CredentialsError, match="the token service is down") as info:
            await client.list(CM)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


EXEC_PLUGIN = """
import json, pathlib, sys
counter = pathlib.Path(sys.argv[1])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                  "kind": "ExecCredential", "status": {"token": f"exec-token-{runs}"}}))
"""


async def test_an_exec_plugin_runs_through_the_official_client_and_again_after_a_401(
    server: EmbeddedApiServer, tmp_path: Path,
) -> None:
    pytest.importorskip("kubernetes")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    counter = tmp_path / "runs"
    path = write_kubeconfig(
        tmp_path / "config", server.url, current="main",
        contexts={"main": {"user": "u", "namespace": "default"}},
        users={"u": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                              "command": sys.executable, "args": [str(plugin), str(counter)]}}},
    )
    async with ApiClient.from_kubeconfig(path) as client:
        await client.create(CM, configmap("exec"))
        assert client.connection_info is not None
        assert client.connection_info.token == "exec-token-1"
        assert client.connection_info.default_namespace == "default"
        server.faults.fail("get", "configmaps", 401)
        await client.get(CM, "exec")
        assert client.connection_info.token == "exec-token-2"
    assert counter.read_text() == "2"
