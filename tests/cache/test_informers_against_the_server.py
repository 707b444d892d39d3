"""Informers against the embedded API server over real HTTP, through its faults.

After every fault — dropped watches, expired history (410 on resume), failing requests, a server
restart — the cache must equal a fresh list from the server, and every object deleted during
the gap must have reached ``on_delete`` (as its final state or as a tombstone).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kopf_informers import ApiClient, ExponentialBackoff, UnknownResourceError
from kopf_informers._informer import InformerFactory, SharedIndexInformer
from kopf_informers._reflector import DeletedFinalStateUnknown
from kopf_informers.errors import (
    CacheNotSyncedError,
    CacheSyncTimeoutError,
    InvalidArgumentError,
)
from kopf_informers.testing import EmbeddedApiServer, eventually

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=0.2)

CM = "v1/configmaps"


class Events:
    """Records what an informer's handlers were told."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.updated: list[str] = []
        self.deleted: list[str] = []
        self.tombstones: list[str] = []

    def attach(self, informer: SharedIndexInformer[Any]) -> None:
        informer.add_handler(on_add=self.on_add, on_update=self.on_update,
                             on_delete=self.on_delete)

    def on_add(self, obj: Any) -> None:
        self.added.append(obj["metadata"]["name"])

    def on_update(self, old: Any, new: Any) -> None:
        self.updated.append(new["metadata"]["name"])

    def on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.tombstones.append(obj.obj["metadata"]["name"])
        else:
            self.deleted.append(obj["metadata"]["name"])

    @property
    def all_deleted(self) -> set[str]:
        return set(self.deleted) | set(self.tombstones)


def quick_backoff() -> ExponentialBackoff:
    return ExponentialBackoff(initial=0.05, cap=0.2)


@pytest.fixture
async def factory(api: ApiClient) -> AsyncIterator[InformerFactory]:
    async with InformerFactory(api, backoff=quick_backoff) as factory:
        yield factory


async def create(api: ApiClient, name: str, namespace: str = "default", **labels: str) -> None:
    await api.create(CM, {"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}},
                     namespace=namespace)


async def server_state(api: ApiClient, **kwargs: Any) -> dict[str, str]:
    page = await api.list(CM, **kwargs)
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}":
            o["metadata"]["resourceVersion"] for o in page["items"]}


def reflector_lists(server: EmbeddedApiServer) -> list[Any]:
    """The informer's lists (paginated), not the test's own checks (unpaginated)."""
    return [e for e in server.journal.filter(verb="list", resource="configmaps")
            if "limit" in e.query]


def cache_state(informer: SharedIndexInformer[Any]) -> dict[str, str]:
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}":
            o["metadata"]["resourceVersion"] for o in informer.lister.list()}


async def cache_matches_server(api: ApiClient, informer: SharedIndexInformer[Any],
                               **kwargs: Any) -> bool:
    return cache_state(informer) == await server_state(api, **kwargs)


async def started(factory: InformerFactory, events: Events | None = None,
                  **kwargs: Any) -> SharedIndexInformer[Any]:
    informer = factory.informer(CM, **kwargs)
    if events is not None:
        events.attach(informer)
    await factory.start()
    await factory.wait_synced(timeout=20)
    return informer


async def test_the_cache_follows_creates_updates_and_deletes(
        api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "before")
    events = Events()
    informer = await started(factory, events)
    assert informer.lister.get("before", "default") is not None
    await create(api, "during")
    await api.patch(CM, "before", {"data": {"v": "1"}}, namespace="default")
    await api.delete(CM, "during", namespace="default")
    await eventually(lambda: "during" in events.deleted)
    assert events.added == ["before", "during"]
    assert events.updated == ["before"]
    assert informer.lister.get("before", "default")["data"] == {"v": "1"}
    assert await cache_matches_server(api, informer)


async def test_after_dropped_watches_the_cache_resumes_and_misses_nothing(
        server: EmbeddedApiServer, api: ApiClient, factory: InformerFactory) -> None:
    for i in range(5):
        await create(api, f"cm{i}")
    events = Events()
    informer = await started(factory, events)
    server.faults.fail("watch", "configmaps", 503, count=2)  # keep it away for a moment
    server.faults.drop_watches(abrupt=True)
    await api.delete(CM, "cm1", namespace="default")
    await api.patch(CM, "cm2", {"data": {"v": "2"}}, namespace="default")
    await create(api, "cm9")
    await eventually(lambda: cache_matches_server(api, informer))
    assert "cm1" in events.all_deleted
    assert informer.lister.get("cm2", "default")["data"] == {"v": "2"}
    assert len(reflector_lists(server)) == 1  # a resume, not a relist: no history was lost


async def test_after_expired_history_the_relist_emits_tombstones_for_the_gap(
        server: EmbeddedApiServer, api: ApiClient, factory: InformerFactory) -> None:
    for i in range(5):
        await create(api, f"cm{i}")
    events = Events()
    informer = await started(factory, events)
    server.faults.fail("watch", "configmaps", 503, count=2)
    server.faults.drop_watches(abrupt=True)
    await api.delete(CM, "cm0", namespace="default")
    await api.delete(CM, "cm3", namespace="default")
    await api.patch(CM, "cm4", {"data": {"v": "4"}}, namespace="default")
    await create(api, "late")
    server.faults.expire_history()
    await eventually(lambda: cache_matches_server(api, informer))
    await eventually(lambda: {"cm0", "cm3"} <= events.all_deleted)
    assert {"cm0", "cm3"} <= set(events.tombstones)  # found gone by the relist
    assert "late" in events.added
    assert "cm4" in events.updated
    assert len(reflector_lists(server)) >= 2


async def test_failing_lists_are_retried_until_the_cache_syncs(
        server: EmbeddedApiServer, api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "a")
    server.faults.fail("list", "configmaps", 500, count=2)
    informer = await started(factory)
    assert informer.lister.get("a", "default") is not None
    statuses = [e.status for e in reflector_lists(server)]
    assert statuses == [500, 500, 200]


async def test_after_a_server_restart_the_cache_catches_up(
        server: EmbeddedApiServer, api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "a")
    await create(api, "b")
    events = Events()
    informer = await started(factory, events)
    server.faults.restart()
    await api.delete(CM, "a", namespace="default")
    await create(api, "c")
    await eventually(lambda: cache_matches_server(api, informer))
    assert "a" in events.all_deleted
    assert "c" in events.added


async def test_a_label_selected_informer_sees_objects_enter_and_leave_its_selection(
        api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "in", app="web")
    await create(api, "out", app="db")
    events = Events()
    informer = await started(factory, events, label_selector="app=web")
    assert [o["metadata"]["name"] for o in informer.lister.list()] == ["in"]
    await api.patch(CM, "out", {"metadata": {"labels": {"app": "web"}}}, namespace="default")
    await api.patch(CM, "in", {"metadata": {"labels": {"app": "db"}}}, namespace="default")
    await eventually(lambda: "in" in events.deleted)
    assert sorted(o["metadata"]["name"] for o in informer.lister.list()) == ["out"]
    assert await cache_matches_server(api, informer, label_selector="app=web")


async def test_a_namespaced_informer_caches_only_its_namespace(
        api: ApiClient, factory: InformerFactory) -> None:
    await api.create("v1/namespaces", {"metadata": {"name": "other"}})
    await create(api, "here")
    await create(api, "there", namespace="other")
    informer = await started(factory, namespace="other")
    assert [o["metadata"]["name"] for o in informer.lister.list()] == ["there"]
    assert informer.lister.get("there") is not None  # the informer's namespace by default


async def test_the_scope_discovered_at_the_start_checks_the_namespace_arguments(
        api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "cm")
    configmaps = factory.informer(CM)
    namespaces = factory.informer("v1/namespaces")
    with pytest.raises(CacheNotSyncedError, match=r"is not started"):
        configmaps.lister.get("cm", "default")  # not "cluster-scoped": the scope is unknown
    await factory.start()
    await factory.wait_synced(timeout=20)
    assert configmaps.lister.get("cm", "default") is not None
    with pytest.raises(InvalidArgumentError, match=r"v1/configmaps is namespaced: pass namespace"):
        configmaps.lister.get("cm")
    assert namespaces.lister.get("default") is not None
    with pytest.raises(InvalidArgumentError, match=r"v1/namespaces is cluster-scoped"):
        namespaces.lister.get("default", "default")
    with pytest.raises(InvalidArgumentError, match=r"v1/namespaces is cluster-scoped"):
        namespaces.lister.list("default")


async def test_a_namespaced_informer_refuses_to_answer_for_another_namespace(
        api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "here")
    informer = await started(factory, namespace="kube-public")
    with pytest.raises(InvalidArgumentError, match=r"caches namespace 'kube-public' only"):
        informer.lister.get("here", "default")  # it exists, but this cache cannot know


async def test_informers_are_shared_per_resource_and_selection(factory: InformerFactory) -> None:
    a = factory.informer(CM, label_selector="app=web")
    b = factory.informer(CM, label_selector={"matchLabels": {"app": "web"}})
    c = factory.informer(CM)
    await factory.start()
    await factory.wait_synced(timeout=20)
    assert a is b
    assert a is not c


async def test_indexes_answer_by_value_from_the_cache(
        server: EmbeddedApiServer, api: ApiClient, factory: InformerFactory) -> None:
    await create(api, "a", app="web")
    await create(api, "b", app="web")
    await create(api, "c", app="db")
    informer = await started(
        factory, indexers={"app": lambda o: [o["metadata"].get("labels", {}).get("app", "")]})
    gets_before = len(server.journal.filter(verb="get"))
    names = sorted(o["metadata"]["name"] for o in informer.lister.by_index("app", "web"))
    assert names == ["a", "b"]
    assert informer.lister.index_values("app") == ["db", "web"] or \
        sorted(informer.lister.index_values("app")) == ["db", "web"]
    assert len(server.journal.filter(verb="get")) == gets_before  # no API GET for reads


async def test_watch_list_streams_the_initial_state_instead_of_listing(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    await create(api, "a")
    async with InformerFactory(api, watch_list=True, backoff=quick_backoff) as factory:
        events = Events()
        informer = await started(factory, events)
        assert events.added == ["a"]
        await create(api, "b")
        await eventually(lambda: "b" in events.added)
        assert await cache_matches_server(api, informer)
    assert reflector_lists(server) == []
    watches = server.journal.filter(verb="watch", resource="configmaps")
    assert watches[0].query.get("sendInitialEvents") == "true"


async def test_an_unknown_resource_is_named_when_the_factory_starts(
        factory: InformerFactory) -> None:
    factory.informer("example.com/v1/nothings")
    with pytest.raises(UnknownResourceError, match="nothings"):
        await factory.start()


async def test_a_cache_that_cannot_sync_is_named_in_the_timeout_error(
        server: EmbeddedApiServer, factory: InformerFactory) -> None:
    server.faults.fail("list", "configmaps", 500, count=1000)
    factory.informer(CM)
    await factory.start()
    with pytest.raises(CacheSyncTimeoutError) as error:
        await factory.wait_synced(timeout=0.5)
    assert error.value.informers == [CM]
    assert CM in str(error.value)


async def test_stopping_the_factory_leaves_no_tasks_behind(
        api: ApiClient, factory: InformerFactory) -> None:
    await started(factory)
    assert informer_tasks()
    await factory.stop()
    assert informer_tasks() == []


def informer_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(("reflector:", "resync:"))]
