"""Listers: reads from an informer's cache by name, namespace, label selector and index.

The listers here read stores filled by hand through their writers: a lister has no client and
no source, so no server is needed, and none could be called.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from kopf_informers._listers import Lister, NamespaceLister
from kopf_informers._store import Store, StoreWriter, store, thaw
from kopf_informers.errors import InvalidArgumentError, SelectorError, UnknownIndexError
from kopf_informers.selectors import LabelSelector

Obj = dict[str, Any]


def cm(name: str, namespace: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1",
                         "labels": labels}}


def namespace_object(name: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "resourceVersion": "1", "labels": labels}}


def names(objs: list[Any]) -> list[str]:
    return sorted(f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs)


def by_app(obj: Any) -> list[str]:
    app = obj["metadata"]["labels"].get("app")
    return [app] if app else []


@pytest.fixture
def writer() -> StoreWriter[Any]:
    _, writer = store(indexers={"app": by_app})
    writer.apply(cm("web-1", "ns1", app="web", tier="front"))
    writer.apply(cm("web-2", "ns2", app="web", tier="back"))
    writer.apply(cm("db", "ns1", app="db", tier="back"))
    writer.apply(cm("plain", "ns2"))
    return writer


@pytest.fixture
def lister(writer: StoreWriter[Any]) -> Lister[Any]:
    return Lister(writer.store, resource="v1/configmaps", namespaced=True)


@pytest.fixture
def cluster_lister() -> Lister[Any]:
    reader, writer = store()
    writer.apply(namespace_object("ns1", team="a"))
    writer.apply(namespace_object("ns2", team="b"))
    return Lister(reader, resource="v1/namespaces", namespaced=False)


# -- get ------------------------------------------------------------------------------------------


def test_get_finds_an_object_by_name_and_namespace(lister: Lister[Any]) -> None:
    obj = lister.get("web-1", namespace="ns1")
    assert obj is not None
    assert obj["metadata"]["name"] == "web-1"
    assert obj["metadata"]["namespace"] == "ns1"


def test_get_returns_none_for_a_name_that_is_not_in_that_namespace(lister: Lister[Any]) -> None:
    assert lister.get("web-1", namespace="ns2") is None
    assert lister.get("missing", namespace="ns1") is None


def test_get_without_a_namespace_on_a_namespaced_resource_is_refused(lister: Lister[Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"v1/configmaps is namespaced"):
        lister.get("web-1")


def test_get_without_a_namespace_uses_the_default_namespace_if_one_is_set(
    writer: StoreWriter[Any],
) -> None:
    lister = Lister(writer.store, resource="v1/configmaps", namespaced=True,
                    default_namespace="ns1")
    obj = lister.get("db")
    assert obj is not None
    assert obj["metadata"]["namespace"] == "ns1"
    assert lister.get("web-2") is None  # it is in ns2, not in the default namespace
    assert lister.get("db", namespace="ns1") is obj  # naming the default namespace is fine


@pytest.mark.parametrize("read", [
    pytest.param(lambda lister: lister.get("web-2", namespace="ns2"), id="get"),
    pytest.param(lambda lister: lister.list(namespace="ns2"), id="list"),
    pytest.param(lambda lister: lister.namespaced_view("ns2").list(), id="namespaced-view"),
])
def test_another_namespace_than_the_informers_own_is_refused_not_answered_empty(
    writer: StoreWriter[Any], read: Any,
) -> None:
    # An informer restricted to ns1 never holds ns2's objects: None or [] would be a lie.
    lister = Lister(writer.store, resource="v1/configmaps", namespaced=True,
                    default_namespace="ns1")
    with pytest.raises(InvalidArgumentError, match=r"caches namespace 'ns1' only, not 'ns2'"):
        read(lister)


def test_get_on_a_cluster_scoped_resource_needs_no_namespace(cluster_lister: Lister[Any]) -> None:
    obj = cluster_lister.get("ns1")
    assert obj is not None
    assert obj["metadata"]["labels"] == {"team": "a"}


def test_a_namespace_on_a_cluster_scoped_resource_is_refused(cluster_lister: Lister[Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"v1/namespaces is cluster-scoped"):
        cluster_lister.get("ns1", namespace="ns1")
    with pytest.raises(InvalidArgumentError, match=r"v1/namespaces is cluster-scoped"):
        cluster_lister.list(namespace="ns1")
    with pytest.raises(InvalidArgumentError, match=r"v1/namespaces is cluster-scoped"):
        cluster_lister.namespaced_view("ns1")


# -- list -----------------------------------------------------------------------------------------


def test_list_without_arguments_returns_every_cached_object(lister: Lister[Any]) -> None:
    assert names(lister.list()) == ["ns1/db", "ns1/web-1", "ns2/plain", "ns2/web-2"]
    assert len(lister) == 4


def test_list_by_namespace_returns_only_that_namespace(lister: Lister[Any]) -> None:
    assert names(lister.list("ns1")) == ["ns1/db", "ns1/web-1"]
    assert names(lister.list(namespace="ns2")) == ["ns2/plain", "ns2/web-2"]
    assert lister.list("elsewhere") == []


def test_list_on_a_cluster_scoped_resource_returns_every_object(
    cluster_lister: Lister[Any],
) -> None:
    assert names(cluster_lister.list()) == ["/ns1", "/ns2"]
    assert names(cluster_lister.list(selector="team=b")) == ["/ns2"]


@pytest.mark.parametrize(("selector", "expected"), [
    pytest.param("app=web", ["ns1/web-1", "ns2/web-2"], id="string-equality"),
    pytest.param("app in (web,db),tier=back", ["ns1/db", "ns2/web-2"], id="string-set"),
    pytest.param("!app", ["ns2/plain"], id="string-does-not-exist"),
    pytest.param({"matchLabels": {"app": "web"}}, ["ns1/web-1", "ns2/web-2"],
                 id="dict-match-labels"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]},
                 ["ns1/web-1", "ns2/plain"], id="dict-match-expressions"),
    pytest.param({"matchLabels": {"tier": "back"},
                  "matchExpressions": [{"key": "app", "operator": "Exists"}]},
                 ["ns1/db", "ns2/web-2"], id="dict-both"),
    pytest.param(LabelSelector.parse("tier=front"), ["ns1/web-1"], id="label-selector"),
    pytest.param(LabelSelector.from_labels({"app": "db"}), ["ns1/db"], id="from-labels"),
    pytest.param("", ["ns1/db", "ns1/web-1", "ns2/plain", "ns2/web-2"], id="empty-string"),
    pytest.param({}, ["ns1/db", "ns1/web-1", "ns2/plain", "ns2/web-2"], id="empty-dict"),
    pytest.param(None, ["ns1/db", "ns1/web-1", "ns2/plain", "ns2/web-2"], id="none"),
])
def test_list_filters_by_a_label_selector_in_any_form(
    lister: Lister[Any], selector: Any, expected: list[str],
) -> None:
    assert names(lister.list(selector=selector)) == expected


def test_list_combines_a_namespace_and_a_selector(lister: Lister[Any]) -> None:
    assert names(lister.list("ns1", "app=web")) == ["ns1/web-1"]
    assert names(lister.list("ns2", {"matchLabels": {"tier": "back"}})) == ["ns2/web-2"]


@pytest.mark.parametrize("selector", [
    pytest.param("=web", id="string-without-key"),
    pytest.param("app in (web", id="string-unclosed-set"),
    pytest.param("bad key!=x", id="string-invalid-key"),
    pytest.param({"matchLabels": {"app": "no spaces allowed"}}, id="dict-invalid-value"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]},
                 id="dict-unknown-operator"),
    pytest.param({"matchLabel": {"app": "web"}}, id="dict-unknown-field"),
    pytest.param(42, id="not-a-selector"),
])
def test_an_invalid_selector_raises_a_selector_error(lister: Lister[Any], selector: Any) -> None:
    with pytest.raises(SelectorError):
        lister.list(selector=selector)


def test_list_returns_a_new_list_on_every_call(lister: Lister[Any]) -> None:
    first = lister.list()
    first.clear()
    assert len(lister.list()) == 4


# -- indexes --------------------------------------------------------------------------------------


def test_by_index_returns_the_objects_filed_under_a_value(lister: Lister[Any]) -> None:
    assert names(lister.by_index("app", "web")) == ["ns1/web-1", "ns2/web-2"]
    assert names(lister.by_index("app", "db")) == ["ns1/db"]
    assert lister.by_index("app", "nothing") == []
    assert names(lister.by_index("namespace", "ns2")) == ["ns2/plain", "ns2/web-2"]


def test_index_values_are_every_value_an_index_holds(lister: Lister[Any]) -> None:
    assert sorted(lister.index_values("app")) == ["db", "web"]
    assert sorted(lister.index_values("namespace")) == ["ns1", "ns2"]


def test_an_unknown_index_raises_an_error_naming_the_known_ones(lister: Lister[Any]) -> None:
    with pytest.raises(UnknownIndexError, match=r"'nope'.*'app'"):
        lister.by_index("nope", "x")
    with pytest.raises(UnknownIndexError):
        lister.index_values("nope")


def test_the_lister_sees_writes_made_after_it_was_created(
    writer: StoreWriter[Any], lister: Lister[Any],
) -> None:
    writer.apply(cm("web-3", "ns1", app="web"))
    writer.delete("ns1/db")
    assert names(lister.list("ns1")) == ["ns1/web-1", "ns1/web-3"]
    assert lister.index_values("app") == ["web"]


# -- namespaced views -----------------------------------------------------------------------------


def test_a_namespaced_view_gets_and_lists_within_its_namespace(lister: Lister[Any]) -> None:
    view = lister.namespaced_view("ns1")
    assert isinstance(view, NamespaceLister)
    assert view.namespace == "ns1"
    obj = view.get("web-1")
    assert obj is not None
    assert obj is lister.get("web-1", "ns1")
    assert view.get("web-2") is None
    assert names(view.list()) == ["ns1/db", "ns1/web-1"]
    assert names(view.list("tier=back")) == ["ns1/db"]
    assert names(view.list({"matchLabels": {"app": "web"}})) == ["ns1/web-1"]


# -- frozen objects -------------------------------------------------------------------------------


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda o: o.__setitem__("data", {}), id="set-top-level-key"),
    pytest.param(lambda o: o["data"].__setitem__("k", "changed"), id="set-nested-key"),
    pytest.param(lambda o: o["metadata"]["labels"].update(app="x"), id="update-labels"),
    pytest.param(lambda o: o["metadata"].pop("name"), id="pop-metadata"),
    pytest.param(lambda o: o.clear(), id="clear"),
])
def test_cached_objects_are_frozen_and_mutating_one_raises_type_error(
    lister: Lister[Any], mutate: Any,
) -> None:
    obj = lister.get("web-1", "ns1")
    with pytest.raises(TypeError, match=r"read-only.*thaw"):
        mutate(obj)
    assert lister.get("web-1", "ns1") == cm("web-1", "ns1", app="web", tier="front")


def test_thaw_gives_a_mutable_copy_and_leaves_the_cache_unchanged(lister: Lister[Any]) -> None:
    cached = lister.get("web-1", "ns1")
    copy = thaw(cached)
    assert copy == cached
    copy["data"]["k"] = "changed"
    copy["metadata"]["labels"]["app"] = "other"
    assert type(copy) is dict
    assert type(copy["data"]) is dict
    assert lister.get("web-1", "ns1") == cm("web-1", "ns1", app="web", tier="front")
    assert names(lister.list(selector="app=web")) == ["ns1/web-1", "ns2/web-2"]


# -- no API ---------------------------------------------------------------------------------------


def test_a_lister_is_built_from_a_store_alone_so_it_cannot_call_the_api(
    lister: Lister[Any],
) -> None:
    # By construction: a lister takes a read-only store and plain settings, nothing that talks.
    params = list(inspect.signature(Lister).parameters)
    # check_synced is the informer's "may I read yet?" (a lister over a store alone has none).
    assert params == ["store", "resource", "namespaced", "default_namespace", "check_synced"]
    held = [value for value in vars(lister).values() if not isinstance(value, str | bool | None)]
    assert len(held) == 1
    assert isinstance(held[0], Store)
    view = lister.namespaced_view("ns1")
    assert [v for v in vars(view).values() if not isinstance(v, str)] == [lister]
