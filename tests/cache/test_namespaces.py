"""Informers restricted to the namespaces an operator serves (Kopf's ``-n`` patterns).

A factory made with ``namespaces=`` lists and watches a namespaced resource in each served
namespace, never cluster-wide, behind one cache and one lister; with globs it follows the
namespaces created and deleted later; cluster-scoped resources stay cluster-wide. A list refused
with 403 is raised at once by ``wait_synced(fail_fast=True)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kopf._cogs.structs.references import match_namespace as kopfs_match_namespace

from kopf_informers import ApiClient, ExponentialBackoff
from kopf_informers._informer import InformerFactory
from kopf_informers._namespaces import NamespaceScope, match_namespace
from kopf_informers._reflector import DeletedFinalStateUnknown
from kopf_informers.errors import ForbiddenError, InvalidArgumentError, UnknownIndexError
from kopf_informers.testing import EmbeddedApiServer, eventually

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=0.2)

CM = "v1/configmaps"
NAMES = ["a", "b", "app", "app-1", "app-pr-1", "app-pr-2", "other-pr-1", "kube-system", "x"]
PATTERNS = ["a", "app-*", "!kube-*", "app-*,!*-pr-*", "app-*,!*-pr-*,*-pr-1",
            "!*-pr-*,*pr-1", "a?p", " app , !app-1 "]


# -- patterns -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_match_exactly_what_kopf_matches(pattern: str) -> None:
    """Kopf's own matcher is private: this compares with it, and fails if Kopf changes."""
    ours = [name for name in NAMES if match_namespace(name, pattern)]
    assert ours == [name for name in NAMES if kopfs_match_namespace(name, pattern)]


def test_a_scope_serves_any_pattern_and_knows_its_exact_names() -> None:
    scope = NamespaceScope.of(["a", "team-*", "!kube-*"])
    assert [n for n in ["a", "team-x", "kube-system", "b"] if scope.matches(n)] == [
        "a", "team-x", "b"]  # "!kube-*" alone serves everything but kube-*
    assert scope.exact == {"a"}
    assert scope.needs_watch
    assert not NamespaceScope.of(["a", "b"]).needs_watch
    assert NamespaceScope.of(None).clusterwide
    assert NamespaceScope.of([]).clusterwide
    assert str(NamespaceScope()) == "all namespaces"


def test_the_setting_is_a_list_whose_exclusions_apply_to_every_item() -> None:
    scope = NamespaceScope.parse(" team-*, ops ,!team-tmp")
    assert [n for n in ["team-a", "team-tmp", "ops", "dev"] if scope.matches(n)] == [
        "team-a", "ops"]
    assert NamespaceScope.parse("a,b") == NamespaceScope(("a", "b"))
    assert NamespaceScope.parse("!kube-*").matches("default")
    assert NamespaceScope.parse(" , ").clusterwide


@pytest.mark.parametrize("bad", ["a", ["a", ""], [" , "], [3]])
def test_malformed_namespace_patterns_are_refused_by_name(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="namespace"):
        NamespaceScope.of(bad)


# -- informers ------------------------------------------------------------------------------------


def quick_backoff() -> ExponentialBackoff:
    return ExponentialBackoff(initial=0.05, cap=0.2)


async def create_namespaces(api: ApiClient, *names: str) -> None:
    for name in names:
        await api.create("v1/namespaces", {"metadata": {"name": name}})


async def create_cm(api: ApiClient, namespace: str, name: str) -> None:
    await api.create(CM, {"metadata": {"name": name, "namespace": namespace}},
                     namespace=namespace)


def names(objs: list[Any]) -> list[str]:
    return sorted(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objs)


async def test_namespaced_resources_are_watched_in_the_served_namespaces_only(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    await create_namespaces(api, "a", "b", "c")
    for namespace in ("a", "b", "c"):
        await create_cm(api, namespace, "cm")
    async with InformerFactory(api, namespaces=["a", "b"], backoff=quick_backoff) as factory:
        cms = factory.informer(CM, indexers={"by-name": lambda o: [o["metadata"]["name"]]})
        nodes = factory.informer("v1/namespaces")  # cluster-scoped: cluster-wide
        await factory.start()
        await factory.wait_synced(timeout=10)

        assert names(cms.lister.list()) == ["a/cm", "b/cm"]
        assert cms.lister.get("cm", "b") is not None
        assert cms.lister.get("cm", "c") is None
        assert names(cms.lister.list("a")) == ["a/cm"]
        assert names(cms.lister.by_index("by-name", "cm")) == ["a/cm", "b/cm"]
        assert cms.lister.index_values("namespace") == ["a", "b"]
        assert len(cms.lister) == 2
        assert cms.namespaces == ["a", "b"]
        with pytest.raises(UnknownIndexError, match="by-name"):
            cms.lister.by_index("nope", "x")
        assert "c" in {meta["metadata"]["name"] for meta in nodes.lister.list()}

        await create_cm(api, "b", "later")
        await create_cm(api, "c", "later")
        await eventually(lambda: cms.lister.get("later", "b") is not None, "b/later cached")

    assert cms.lister.get("later", "c") is None
    cm_requests = server.journal.filter(resource="configmaps")
    assert {(e.verb, e.namespace) for e in cm_requests if e.verb in ("list", "watch")} == {
        ("list", "a"), ("list", "b"), ("watch", "a"), ("watch", "b")}


async def test_a_glob_follows_namespaces_created_and_deleted_after_the_start(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    await create_namespaces(api, "team-a", "other")
    await create_cm(api, "team-a", "cm")
    await create_cm(api, "other", "cm")
    added: list[str] = []
    deleted: list[str] = []
    async with InformerFactory(api, namespaces=["team-*"], backoff=quick_backoff) as factory:
        cms = factory.informer(CM)
        cms.add_handler(
            on_add=lambda o: added.append(f"{o['metadata']['namespace']}/{o['metadata']['name']}"),
            on_delete=lambda o: deleted.append(
                (o.obj if isinstance(o, DeletedFinalStateUnknown) else o)["metadata"]["name"]),
        )
        await factory.start()
        await factory.wait_synced(timeout=10)
        assert names(cms.lister.list()) == ["team-a/cm"]

        server.faults.add_latency(1.0, verb="list", resource="configmaps")
        await create_namespaces(api, "team-b", "more")
        await create_cm(api, "more", "cm")
        await eventually(lambda: cms.namespaces == ["team-a", "team-b"], "team-b watched")
        # While the namespace that joined still lists, the cache answers for the others.
        assert not cms.has_synced
        assert names(cms.lister.list()) == ["team-a/cm"]
        server.faults.clear()
        await create_cm(api, "team-b", "cm")
        await eventually(lambda: cms.lister.get("cm", "team-b") is not None, "team-b/cm cached")

        await api.delete("v1/namespaces", "team-a")  # its objects go first, then itself
        await eventually(lambda: cms.namespaces == ["team-b"], "team-a no longer watched")

    assert added == ["team-a/cm", "team-b/cm"]
    assert deleted == ["cm"]  # team-a/cm, deleted with its namespace
    assert not [e for e in server.journal.filter(resource="configmaps")
                if e.verb in ("list", "watch") and e.namespace in (None, "other", "more")]


async def test_without_leave_to_list_namespaces_only_exact_names_are_served(
        server: EmbeddedApiServer, api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    await create_namespaces(api, "a", "team-a")
    server.faults.fail("list", "namespaces", 403, percent=100)
    async with InformerFactory(api, namespaces=["a", "team-*"], backoff=quick_backoff) as factory:
        cms = factory.informer(CM)
        await factory.start(timeout=10)
        await factory.wait_synced(timeout=10)
        assert cms.namespaces == ["a"]
    [warning] = [r for r in caplog.records if "cannot list namespaces" in r.getMessage()]
    assert "serving only the namespaces named exactly (a)" in warning.getMessage()
    assert "'team-*'" in warning.getMessage()


async def test_a_forbidden_list_fails_the_sync_at_once_when_asked_to(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    server.faults.fail("list", "configmaps", 403, percent=100)
    async with InformerFactory(api, namespaces=["a"], backoff=quick_backoff) as factory:
        cms = factory.informer(CM)
        await factory.start()
        started = asyncio.get_running_loop().time()
        with pytest.raises(ForbiddenError) as refused:
            await factory.wait_synced(timeout=60, fail_fast=True)
        assert asyncio.get_running_loop().time() - started < 30  # not the timeout
        assert not cms.has_synced
    assert refused.value.verb == "list"
    assert refused.value.namespace == "a"
    assert refused.value.resource == CM
