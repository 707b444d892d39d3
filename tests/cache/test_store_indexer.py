"""The informer cache: keys, indexes, relists, transforms and the read-only policy."""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import pickle
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kopf_informers._store import (
    LAST_APPLIED_ANNOTATION,
    NAMESPACE_INDEX,
    OWNER_INDEX,
    FrozenDict,
    FrozenList,
    Store,
    StoreWriter,
    frozen,
    index_by_namespace,
    index_by_owner_uid,
    object_key,
    split_object_key,
    store,
    strip_managed_fields,
    thaw,
)
from kopf_informers.errors import InvalidArgumentError, UnknownIndexError

Obj = dict[str, Any]


def make(
    name: str, namespace: str | None = "default", *, rv: str | None = "1",
    labels: dict[str, str] | None = None, owners: Iterable[str] = (), **extra: Any,
) -> Obj:
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if rv is not None:
        metadata["resourceVersion"] = rv
    if labels is not None:
        metadata["labels"] = labels
    if owners:
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": f"owner-{uid}", "uid": uid}
            for uid in owners
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, **extra}


def by_app(obj: Obj) -> list[str]:
    return [obj["metadata"].get("labels", {}).get("app", "")]


def by_label_values(obj: Obj) -> list[str]:
    return list(obj["metadata"].get("labels", {}).values())


# ---------------------------------------------------------------------------------------------
# Keys


@pytest.mark.parametrize(("obj", "key"), [
    pytest.param(make("web", "prod"), "prod/web", id="namespaced"),
    pytest.param(make("node-1", None), "node-1", id="cluster-scoped"),
    pytest.param(make("node-1", ""), "node-1", id="empty-namespace-is-cluster-scoped"),
])
def test_object_key_is_namespace_slash_name_or_the_name_alone(obj: Obj, key: str) -> None:
    assert object_key(obj) == key


@pytest.mark.parametrize("obj", [
    pytest.param({}, id="no-metadata"),
    pytest.param({"metadata": None}, id="null-metadata"),
    pytest.param({"metadata": {"namespace": "default"}}, id="no-name"),
    pytest.param({"metadata": {"name": ""}}, id="empty-name"),
    pytest.param({"metadata": {"name": 5}}, id="name-not-a-string"),
])
def test_object_key_of_an_object_without_a_name_is_an_invalid_argument(obj: Obj) -> None:
    with pytest.raises(InvalidArgumentError, match=r"without metadata\.name"):
        object_key(obj)


@pytest.mark.parametrize(("key", "parts"), [
    pytest.param("prod/web", ("prod", "web"), id="namespaced"),
    pytest.param("node-1", (None, "node-1"), id="cluster-scoped"),
])
def test_split_object_key_inverts_object_key(key: str, parts: tuple[str | None, str]) -> None:
    assert split_object_key(key) == parts


# ---------------------------------------------------------------------------------------------
# The built-in index functions


def test_index_by_namespace_files_cluster_scoped_objects_under_the_empty_namespace() -> None:
    assert index_by_namespace(make("a", "prod")) == ["prod"]
    assert index_by_namespace(make("a", None)) == [""]


def test_index_by_owner_uid_lists_the_uid_of_every_owner() -> None:
    assert index_by_owner_uid(make("a", owners=["u1", "u2"])) == ["u1", "u2"]
    assert index_by_owner_uid(make("a")) == []


def test_every_store_has_the_namespace_and_owner_indexes() -> None:
    reader, _ = store()
    assert reader.index_names == [NAMESPACE_INDEX, OWNER_INDEX] == ["namespace", "owner"]


def test_indexers_given_to_a_store_join_the_built_in_ones_and_names_are_sorted() -> None:
    reader, _ = store(indexers={"zeta": by_app, "app": by_app})
    assert reader.index_names == ["app", "namespace", "owner", "zeta"]


# ---------------------------------------------------------------------------------------------
# Reading and writing


def test_the_writer_writes_into_the_store_it_hands_out() -> None:
    reader, writer = store()
    assert writer.store is reader
    assert isinstance(reader, Store)
    assert isinstance(writer, StoreWriter)
    assert not hasattr(reader, "apply")


def test_apply_adds_an_object_and_returns_no_old_one_and_the_stored_one() -> None:
    reader, writer = store()
    old, new = writer.apply(make("a"))
    assert old is None
    assert new is reader.get("default/a")
    assert reader.get("default/a") == make("a")


def test_apply_replaces_an_object_and_returns_the_one_it_replaced() -> None:
    reader, writer = store()
    writer.apply(make("a", rv="1"))
    old = writer.apply(make("a", rv="2")).old
    assert old == make("a", rv="1")
    assert reader.get("default/a") == make("a", rv="2")
    assert len(reader) == 1


def test_get_of_a_missing_key_is_none() -> None:
    reader, _ = store()
    assert reader.get("default/missing") is None


def test_get_by_name_finds_namespaced_and_cluster_scoped_objects() -> None:
    reader, writer = store()
    writer.apply(make("a", "prod"))
    writer.apply(make("node", None))
    assert reader.get_by_name("a", "prod") == make("a", "prod")
    assert reader.get_by_name("node") == make("node", None)
    assert reader.get_by_name("node", "") == make("node", None)
    assert reader.get_by_name("a") is None
    assert reader.get_by_name("a", "other") is None


def test_list_and_keys_follow_the_order_in_which_objects_were_first_stored() -> None:
    reader, writer = store()
    for name in ["c", "a", "b"]:
        writer.apply(make(name))
    writer.apply(make("c", rv="2"))
    assert reader.keys() == ["default/c", "default/a", "default/b"]
    assert reader.list() == [make("c", rv="2"), make("a"), make("b")]


def test_len_and_contains_count_and_find_keys() -> None:
    reader, writer = store()
    assert len(reader) == 0
    assert "default/a" not in reader
    writer.apply(make("a"))
    assert len(reader) == 1
    assert "default/a" in reader


def test_returned_lists_are_new_on_every_call() -> None:
    reader, writer = store()
    writer.apply(make("a"))
    listed = reader.list()
    listed.clear()
    assert reader.list() == [make("a")]
    assert reader.list() is not reader.list()


@pytest.mark.parametrize("target", [
    pytest.param("default/a", id="by-key"),
    pytest.param(make("a", rv="9"), id="by-object"),
])
def test_delete_removes_the_object_and_returns_it(target: str | Obj) -> None:
    reader, writer = store()
    writer.apply(make("a"))
    assert writer.delete(target) == make("a")
    assert reader.get("default/a") is None
    assert len(reader) == 0


def test_delete_of_a_missing_object_returns_none_and_changes_nothing() -> None:
    reader, writer = store()
    writer.apply(make("a"))
    assert writer.delete("default/b") is None
    assert reader.keys() == ["default/a"]


def test_apply_of_an_object_without_a_name_raises_and_stores_nothing() -> None:
    reader, writer = store()
    with pytest.raises(InvalidArgumentError):
        writer.apply({"metadata": {}})
    assert len(reader) == 0


def test_the_store_repr_names_its_size_and_indexes() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a"))
    assert repr(reader) == "<Store of 1 objects; indexes: app, namespace, owner>"


# ---------------------------------------------------------------------------------------------
# Indexes


def test_by_index_and_index_keys_give_the_objects_filed_under_a_value() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a", labels={"app": "web"}))
    writer.apply(make("b", "prod", labels={"app": "web"}))
    writer.apply(make("c", labels={"app": "db"}))
    assert reader.by_index("app", "web") == [reader.get("default/a"), reader.get("prod/b")]
    assert reader.index_keys("app", "web") == ["default/a", "prod/b"]
    assert reader.by_index("namespace", "default") == [reader.get("default/a"),
                                                       reader.get("default/c")]
    assert sorted(reader.list_index_values("app")) == ["db", "web"]
    assert sorted(reader.list_index_values("namespace")) == ["default", "prod"]


def test_by_index_returns_the_cached_objects_themselves() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a", labels={"app": "web"}))
    assert reader.by_index("app", "web")[0] is reader.get("default/a")


def test_a_value_that_files_nothing_gives_empty_lists() -> None:
    reader, _ = store(indexers={"app": by_app})
    assert reader.by_index("app", "nothing") == []
    assert reader.index_keys("app", "nothing") == []
    assert reader.list_index_values("app") == []


def test_the_owner_index_finds_children_by_their_owners_uid() -> None:
    reader, writer = store()
    writer.apply(make("a", owners=["u1"]))
    writer.apply(make("b", owners=["u1", "u2"]))
    writer.apply(make("c"))
    assert reader.index_keys("owner", "u1") == ["default/a", "default/b"]
    assert reader.index_keys("owner", "u2") == ["default/b"]
    assert sorted(reader.list_index_values("owner")) == ["u1", "u2"]


def test_an_update_that_changes_index_values_moves_the_object_between_buckets() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a", labels={"app": "web"}, owners=["u1"]))
    writer.apply(make("b", labels={"app": "web"}))
    writer.apply(make("a", rv="2", labels={"app": "db"}, owners=["u2"]))
    assert reader.index_keys("app", "web") == ["default/b"]
    assert reader.by_index("app", "db") == [make("a", rv="2", labels={"app": "db"}, owners=["u2"])]
    assert reader.list_index_values("owner") == ["u2"]  # the emptied bucket of u1 is gone


def test_an_update_that_keeps_index_values_refreshes_the_indexed_object() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a", rv="1", labels={"app": "web"}))
    writer.apply(make("a", rv="2", labels={"app": "web"}))
    assert reader.by_index("app", "web") == [make("a", rv="2", labels={"app": "web"})]
    assert reader.by_index("namespace", "default")[0] is reader.get("default/a")


def test_delete_removes_the_object_from_every_index_and_drops_empty_buckets() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a", labels={"app": "web"}, owners=["u1"]))
    writer.apply(make("b", labels={"app": "db"}))
    writer.delete("default/a")
    assert reader.list_index_values("app") == ["db"]
    assert reader.list_index_values("owner") == []
    assert reader.index_keys("namespace", "default") == ["default/b"]


def test_an_index_function_that_returns_a_value_twice_indexes_the_object_once() -> None:
    reader, writer = store(indexers={"labels": by_label_values})
    writer.apply(make("a", labels={"x": "same", "y": "same"}))
    assert reader.index_keys("labels", "same") == ["default/a"]
    writer.apply(make("a", rv="2", labels={"x": "same", "y": "other"}))
    assert reader.index_keys("labels", "same") == ["default/a"]
    writer.delete("default/a")
    assert reader.list_index_values("labels") == []


def test_an_index_function_that_returns_a_str_counts_it_as_one_value() -> None:
    reader, writer = store(indexers={"name": lambda obj: obj["metadata"]["name"]})
    writer.apply(make("abc"))
    assert reader.list_index_values("name") == ["abc"]


def test_an_index_function_that_returns_nothing_leaves_the_object_out() -> None:
    reader, writer = store(indexers={"none": lambda obj: iter(())})
    writer.apply(make("a"))
    assert reader.list_index_values("none") == []


@pytest.mark.parametrize("read", [
    pytest.param(lambda reader: reader.by_index("color", "red"), id="by_index"),
    pytest.param(lambda reader: reader.index_keys("color", "red"), id="index_keys"),
    pytest.param(lambda reader: reader.list_index_values("color"), id="list_index_values"),
])
def test_an_unknown_index_raises_an_error_naming_it_and_the_known_ones(
    read: Callable[[Store[Obj]], object],
) -> None:
    reader, _ = store(indexers={"app": by_app})
    with pytest.raises(UnknownIndexError) as excinfo:
        read(reader)
    assert str(excinfo.value) == (
        "no index named 'color'; this store has: 'app', 'namespace', 'owner'"
    )
    assert isinstance(excinfo.value, InvalidArgumentError)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def test_add_indexers_indexes_the_objects_already_stored() -> None:
    reader, writer = store()
    writer.apply(make("a", labels={"app": "web"}))
    writer.apply(make("b", labels={"app": "db"}))
    writer.add_indexers({"app": by_app})
    assert reader.index_keys("app", "web") == ["default/a"]
    writer.apply(make("a", rv="2", labels={"app": "db"}))
    assert reader.index_keys("app", "db") == ["default/b", "default/a"]


@pytest.mark.parametrize("name", ["namespace", "owner", "app"])
def test_add_indexers_refuses_a_taken_name_and_adds_nothing(name: str) -> None:
    reader, writer = store(indexers={"app": by_app})
    with pytest.raises(InvalidArgumentError, match=f"already exist: '{name}'"):
        writer.add_indexers({"fresh": by_app, name: by_app})
    assert reader.index_names == ["app", "namespace", "owner"]


def test_a_failing_index_function_leaves_the_store_as_it_was() -> None:
    def fragile(obj: Obj) -> list[str]:
        return [obj["spec"]["color"]]

    reader, writer = store(indexers={"color": fragile})
    writer.apply(make("a", spec={"color": "red"}))
    with pytest.raises(KeyError):
        writer.apply(make("a", rv="2", owners=["u1"], spec={}))
    assert reader.get("default/a") == make("a", spec={"color": "red"})
    assert reader.list_index_values("owner") == []
    assert reader.index_keys("color", "red") == ["default/a"]


def test_a_failing_index_function_in_add_indexers_adds_nothing() -> None:
    reader, writer = store()
    writer.apply(make("a"))
    with pytest.raises(KeyError):
        writer.add_indexers({"color": lambda obj: [obj["spec"]["color"]]})
    assert reader.index_names == ["namespace", "owner"]


# ---------------------------------------------------------------------------------------------
# Relists


def test_replace_reports_added_updated_and_deleted_objects() -> None:
    reader, writer = store()
    writer.apply(make("kept", rv="1"))
    writer.apply(make("changed", rv="1"))
    writer.apply(make("gone", rv="1"))
    added, updated, deleted = writer.replace([
        make("kept", rv="1"), make("changed", rv="2"), make("new", rv="3"),
    ])
    assert added == [make("new", rv="3")]
    assert updated == [(make("changed", rv="1"), make("changed", rv="2"))]
    assert deleted == [("default/gone", make("gone", rv="1"))]
    assert reader.keys() == ["default/kept", "default/changed", "default/new"]


def test_replace_keeps_the_stored_instance_of_an_unchanged_object() -> None:
    reader, writer = store()
    writer.apply(make("a", rv="1"))
    before = reader.get("default/a")
    assert writer.replace([make("a", rv="1")]) == ([], [], [])
    assert reader.get("default/a") is before


def test_replace_reports_objects_without_a_resource_version_as_updated() -> None:
    _, writer = store()
    writer.apply(make("a", rv=None))
    _, updated, _ = writer.replace([make("a", rv=None, data={"k": "v"})])
    assert updated == [(make("a", rv=None), make("a", rv=None, data={"k": "v"}))]


def test_replace_rebuilds_every_index() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("a", labels={"app": "web"}, owners=["u1"]))
    writer.apply(make("b", "prod", labels={"app": "web"}))
    writer.replace([make("a", rv="2", labels={"app": "db"}), make("c", labels={"app": "web"})])
    assert reader.index_keys("app", "web") == ["default/c"]
    assert reader.index_keys("app", "db") == ["default/a"]
    assert reader.list_index_values("owner") == []
    assert reader.list_index_values("namespace") == ["default"]


def test_replace_with_a_repeated_key_keeps_the_last_object() -> None:
    reader, writer = store()
    added, _, _ = writer.replace([make("a", rv="1"), make("a", rv="2")])
    assert added == [make("a", rv="2")]
    assert reader.list() == [make("a", rv="2")]


def test_replace_with_nothing_empties_the_store_and_its_indexes() -> None:
    reader, writer = store()
    writer.apply(make("a", owners=["u1"]))
    _, _, deleted = writer.replace([])
    assert [obj for _, obj in deleted] == [make("a", owners=["u1"])]
    assert len(reader) == 0
    assert reader.list_index_values("owner") == []
    assert reader.list_index_values("namespace") == []


def test_a_failing_replace_leaves_the_old_contents_in_place() -> None:
    def transform(obj: Obj) -> Obj:
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("boom")
        return obj

    reader, writer = store(transform=transform)
    writer.apply(make("a"))
    with pytest.raises(RuntimeError):
        writer.replace([make("b"), make("bad")])
    assert reader.keys() == ["default/a"]
    assert reader.index_keys("namespace", "default") == ["default/a"]


def test_a_list_taken_before_a_replace_is_not_changed_by_it() -> None:
    reader, writer = store()
    writer.apply(make("a"))
    listed = reader.list()
    writer.replace([make("b")])
    assert listed == [make("a")]


def test_a_replacement_page_by_page_is_invisible_until_its_commit() -> None:
    reader, writer = store(indexers={"app": by_app})
    writer.apply(make("kept", labels={"app": "web"}))
    writer.apply(make("gone"))
    replacement = writer.replacement()
    replacement.add([make("kept", labels={"app": "web"}), make("new", labels={"app": "web"})])
    replacement.add([make("newer", "prod")])
    assert reader.keys() == ["default/kept", "default/gone"]
    assert reader.index_keys("app", "web") == ["default/kept"]
    added, updated, deleted = replacement.commit()
    assert [object_key(obj) for obj in added] == ["default/new", "prod/newer"]
    assert (updated, [key for key, _ in deleted]) == ([], ["default/gone"])
    assert reader.keys() == ["default/kept", "default/new", "prod/newer"]
    assert reader.index_keys("app", "web") == ["default/kept", "default/new"]


def test_a_key_repeated_on_a_later_page_keeps_the_last_object_and_its_index_values() -> None:
    reader, writer = store(indexers={"app": by_app})
    replacement = writer.replacement()
    replacement.add([make("a", rv="1", labels={"app": "web"})])
    replacement.add([make("a", rv="2", labels={"app": "db"})])
    added, _, _ = replacement.commit()
    assert added == [make("a", rv="2", labels={"app": "db"})]
    assert reader.list_index_values("app") == ["db"]


def test_an_index_added_while_a_replacement_is_built_indexes_the_committed_objects() -> None:
    reader, writer = store()
    writer.apply(make("old", labels={"app": "web"}))
    replacement = writer.replacement()
    replacement.add([make("new", labels={"app": "web"})])
    writer.add_indexers({"app": by_app})
    replacement.commit()
    assert reader.index_keys("app", "web") == ["default/new"]


def test_a_replacement_refuses_to_commit_over_a_write_it_did_not_see() -> None:
    reader, writer = store()
    replacement = writer.replacement()
    replacement.add([make("a")])
    writer.apply(make("b"))
    with pytest.raises(RuntimeError, match="written to"):
        replacement.commit()
    assert reader.keys() == ["default/b"]


def test_a_replacement_whose_page_failed_refuses_to_commit() -> None:
    reader, writer = store()
    writer.apply(make("a"))
    replacement = writer.replacement()
    with pytest.raises(InvalidArgumentError):
        replacement.add([make("b"), {"metadata": {}}])
    with pytest.raises(RuntimeError, match="broken"):
        replacement.commit()
    assert reader.keys() == ["default/a"]


def test_a_replacement_commits_once() -> None:
    _, writer = store()
    replacement = writer.replacement()
    replacement.commit()
    with pytest.raises(RuntimeError, match="committed"):
        replacement.add([make("a")])
    with pytest.raises(RuntimeError, match="committed"):
        replacement.commit()


# ---------------------------------------------------------------------------------------------
# Transforms


def test_the_transform_is_applied_before_storing_and_user_indexes_see_its_result() -> None:
    def shout(obj: Obj) -> Obj:
        return {**obj, "data": {"v": obj["data"]["v"].upper()}}

    reader, writer = store(transform=shout, indexers={"v": lambda obj: [obj["data"]["v"]]})
    writer.apply(make("a", data={"v": "x"}))
    assert reader.get("default/a") == make("a", data={"v": "X"})
    assert reader.list_index_values("v") == ["X"]


@dataclasses.dataclass(frozen=True)
class Summary:
    name: str
    app: str


def test_a_transform_may_store_another_type_and_the_built_in_indexes_still_work() -> None:
    def summarize(obj: Obj) -> Summary:
        return Summary(obj["metadata"]["name"], obj["metadata"]["labels"]["app"])

    reader, writer = store(transform=summarize, indexers={"app": lambda s: [s.app]})
    old = writer.apply(make("a", "prod", labels={"app": "web"}, owners=["u1"])).old
    assert old is None
    assert reader.get("prod/a") == Summary("a", "web")
    assert reader.by_index("namespace", "prod") == [Summary("a", "web")]
    assert reader.by_index("owner", "u1") == [Summary("a", "web")]
    assert reader.by_index("app", "web") == [Summary("a", "web")]


def test_transformed_gives_an_object_in_the_stored_shape_without_storing_it() -> None:
    reader, writer = store(transform=strip_managed_fields)
    obj = make("a")
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    result = writer.transformed(obj)
    assert result == make("a")
    assert isinstance(result, FrozenDict)
    assert len(reader) == 0


def test_the_store_keeps_managed_fields_unless_told_otherwise() -> None:
    reader, writer = store()
    obj = make("a")
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    writer.apply(obj)
    assert reader.get("default/a") == obj


def served(**annotations: str) -> Obj:
    obj = make("a", labels={"app": "web"})
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]
    obj["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: '{"kind":"ConfigMap"}\n',
                                      **annotations}
    return obj


def test_strip_managed_fields_drops_managed_fields_and_the_last_applied_annotation() -> None:
    stripped = strip_managed_fields(served(keep="me"))
    assert stripped == {**make("a", labels={"app": "web"}), "metadata": {
        **make("a", labels={"app": "web"})["metadata"], "annotations": {"keep": "me"},
    }}


def test_strip_managed_fields_drops_annotations_that_it_empties() -> None:
    assert strip_managed_fields(served()) == make("a", labels={"app": "web"})


def test_strip_managed_fields_does_not_change_its_input() -> None:
    obj = served(keep="me")
    before = copy.deepcopy(obj)
    strip_managed_fields(obj)
    assert obj == before


@pytest.mark.parametrize("obj", [
    pytest.param(make("a"), id="nothing-to-strip"),
    pytest.param({"metadata": {"name": "a", "annotations": {"x": "y"}}}, id="other-annotations"),
    pytest.param({"kind": "List"}, id="no-metadata"),
])
def test_strip_managed_fields_returns_an_object_with_nothing_to_strip_as_it_is(obj: Obj) -> None:
    assert strip_managed_fields(obj) is obj


def test_strip_managed_fields_works_as_a_store_transform() -> None:
    reader, writer = store(transform=strip_managed_fields)
    writer.apply(served())
    assert reader.get("default/a") == make("a", labels={"app": "web"})


# ---------------------------------------------------------------------------------------------
# The read-only policy


MUTATIONS: list[Any] = [
    pytest.param(lambda o: o.__setitem__("kind", "Secret"), id="dict-setitem"),
    pytest.param(lambda o: o.__delitem__("kind"), id="dict-delitem"),
    pytest.param(lambda o: o.update(kind="Secret"), id="dict-update"),
    pytest.param(lambda o: o.pop("kind"), id="dict-pop"),
    pytest.param(lambda o: o.pop("missing", None), id="dict-pop-default"),
    pytest.param(lambda o: o.popitem(), id="dict-popitem"),
    pytest.param(lambda o: o.setdefault("new", 1), id="dict-setdefault"),
    pytest.param(lambda o: o.clear(), id="dict-clear"),
    pytest.param(lambda o: o.__ior__({"kind": "Secret"}), id="dict-ior"),
    pytest.param(lambda o: o["metadata"]["labels"].__setitem__("app", "x"), id="nested-dict"),
    pytest.param(lambda o: o["data"]["items"].append(4), id="list-append"),
    pytest.param(lambda o: o["data"]["items"].extend([4]), id="list-extend"),
    pytest.param(lambda o: o["data"]["items"].insert(0, 4), id="list-insert"),
    pytest.param(lambda o: o["data"]["items"].__setitem__(0, 4), id="list-setitem"),
    pytest.param(lambda o: o["data"]["items"].__setitem__(slice(0, 1), [4]), id="list-setslice"),
    pytest.param(lambda o: o["data"]["items"].__delitem__(0), id="list-delitem"),
    pytest.param(lambda o: o["data"]["items"].__iadd__([4]), id="list-iadd"),
    pytest.param(lambda o: o["data"]["items"].__imul__(2), id="list-imul"),
    pytest.param(lambda o: o["data"]["items"].pop(), id="list-pop"),
    pytest.param(lambda o: o["data"]["items"].remove(1), id="list-remove"),
    pytest.param(lambda o: o["data"]["items"].clear(), id="list-clear"),
    pytest.param(lambda o: o["data"]["items"].sort(), id="list-sort"),
    pytest.param(lambda o: o["data"]["items"].reverse(), id="list-reverse"),
    pytest.param(lambda o: o["data"]["nested"][0]["deep"].append(1), id="dict-in-list"),
    pytest.param(lambda o: o["metadata"]["managedFields"].append({}), id="managed-fields"),
    pytest.param(lambda o: o["metadata"]["managedFields"][0]["fieldsV1"].__setitem__("f:x", {}),
                 id="in-managed-fields"),
    pytest.param(lambda o: o["subsets"][0]["addresses"].append({}), id="top-level-list"),
    pytest.param(lambda o: o["subsets"][0]["addresses"][0].__setitem__("ip", "x"),
                 id="in-top-level-list"),
]

# Both ways the writer freezes: a deep copy (apply), and lazily, taking the object over
# (apply(adopt=True), what the reflector does with what the API client decoded).
ADOPT = pytest.mark.parametrize("adopt", [False, True], ids=["copied", "adopted"])


def example() -> Obj:
    obj = make("a", labels={"app": "web"}, data={"items": [3, 1, 2], "nested": [{"deep": []}]},
               subsets=[{"addresses": [{"ip": "10.0.0.1"}], "ports": [80]}])
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]
    return obj


def stored_example(adopt: bool = False) -> Obj:
    reader, writer = store()
    writer.apply(example(), adopt=adopt)
    obj = reader.get("default/a")
    assert obj is not None
    return obj


@ADOPT
@pytest.mark.parametrize("mutate", MUTATIONS)
def test_cached_objects_refuse_every_mutation(
    mutate: Callable[[Obj], object], adopt: bool,
) -> None:
    obj = stored_example(adopt)
    before = thaw(obj)
    with pytest.raises(TypeError, match=r"read-only .* thaw\(obj\)"):
        mutate(obj)
    assert obj == before


@ADOPT
def test_frozen_objects_compare_and_serialize_like_plain_ones(adopt: bool) -> None:
    plain = example()
    assert orjson.dumps(stored_example(adopt)) == orjson.dumps(plain)  # before any other read
    assert json.dumps(stored_example(adopt)) == json.dumps(plain)
    assert stored_example(adopt) == plain
    obj = stored_example(adopt)
    assert obj == plain
    assert obj["data"]["items"] == [3, 1, 2]
    assert isinstance(obj, dict)
    assert isinstance(obj["data"]["items"], list)
    assert orjson.dumps(obj) == orjson.dumps(plain)
    assert json.dumps(obj) == json.dumps(plain)


def test_apply_neither_changes_nor_keeps_the_callers_object() -> None:
    reader, writer = store()
    obj = make("a", labels={"app": "web"})
    writer.apply(obj)
    assert type(obj["metadata"]) is dict
    obj["metadata"]["labels"]["app"] = "changed"
    assert reader.get("default/a") == make("a", labels={"app": "web"})


@ADOPT
def test_thaw_gives_a_mutable_deep_copy(adopt: bool) -> None:
    obj = stored_example(adopt)
    copied = thaw(obj)
    copied["metadata"]["labels"]["app"] = "changed"
    copied["data"]["nested"][0]["deep"].append(1)
    assert type(copied) is dict
    assert type(copied["data"]["items"]) is list
    assert obj["metadata"]["labels"]["app"] == "web"
    assert obj["data"]["nested"][0]["deep"] == []


@ADOPT
def test_deepcopy_of_a_cached_object_is_a_mutable_deep_copy(adopt: bool) -> None:
    obj = stored_example(adopt)
    copied = copy.deepcopy(obj)
    assert copied == obj
    assert type(copied) is dict
    assert type(copied["data"]["nested"][0]) is dict
    copied["data"]["items"].append(4)


@ADOPT
def test_shallow_copies_are_plain_at_the_top_and_frozen_below(adopt: bool) -> None:
    obj = stored_example(adopt)
    for shallow in [copy.copy(obj), obj.copy(), dict(obj), obj | {"kind": "Secret"}]:
        assert type(shallow) is dict
        shallow["kind"] = "Secret"
        assert isinstance(shallow["metadata"], FrozenDict)
    items = obj["data"]["items"]
    for shallow_list in [copy.copy(items), items[:], items.__add__([4]), list(items)]:
        assert type(shallow_list) is list
    assert obj["kind"] == "ConfigMap"


@ADOPT
def test_pickling_keeps_objects_frozen(adopt: bool) -> None:
    obj = stored_example(adopt)
    restored = pickle.loads(pickle.dumps(obj))
    assert restored == obj
    assert isinstance(restored, FrozenDict)
    assert isinstance(restored["data"]["items"], FrozenList)


@ADOPT
def test_freezing_a_frozen_object_returns_it_as_it_is(adopt: bool) -> None:
    obj = stored_example(adopt)
    assert frozen(obj) is obj


def test_frozen_keeps_other_values_and_freezes_dict_and_list_subclasses() -> None:
    class Tag(str):
        pass

    ordered = collections.OrderedDict(a=[1])
    result: Any = frozen({"o": ordered, "t": Tag("x"), "n": None, "b": True, "tu": (1, [2])})
    assert type(result["o"]) is FrozenDict
    assert type(result["o"]["a"]) is FrozenList
    assert type(result["t"]) is Tag
    assert result["tu"] == (1, [2])  # a tuple is kept as it is, and what it holds with it
    assert frozen(5) == 5
    assert frozen("x") == "x"


@ADOPT
def test_thaw_and_deepcopy_copy_every_level_before_any_read(adopt: bool) -> None:
    for copied in [thaw(stored_example(adopt)), copy.deepcopy(stored_example(adopt))]:
        assert copied == example()
        assert _only_plain_containers(copied)


@ADOPT
def test_pickling_keeps_every_level_frozen(adopt: bool) -> None:
    restored = pickle.loads(pickle.dumps(stored_example(adopt)))
    assert restored == example()
    assert isinstance(restored["metadata"]["managedFields"][0], FrozenDict)
    assert isinstance(restored["subsets"][0]["addresses"], FrozenList)
    with pytest.raises(TypeError):
        restored["subsets"][0]["addresses"][0]["ip"] = "x"


# Every way to read the items of a list in the cache, each on an object nobody read before:
# none may hand out a mutable part of the cached object.
LIST_READS: list[Any] = [
    pytest.param(lambda lst: lst[0], id="index"),
    pytest.param(lambda lst: lst[-1], id="negative-index"),
    pytest.param(lambda lst: lst[:1][0], id="slice"),
    pytest.param(lambda lst: next(iter(lst)), id="iter"),
    pytest.param(lambda lst: [*lst][0], id="unpack"),  # noqa: RUF015  # the reads under test
    pytest.param(lambda lst: list(lst)[0], id="list"),  # noqa: RUF015  # the reads under test
    pytest.param(lambda lst: tuple(lst)[0], id="tuple"),  # noqa: RUF015  # the reads under test
    pytest.param(lambda lst: next(reversed(lst)), id="reversed"),
    pytest.param(lambda lst: (lst + [])[0], id="add"),  # noqa: RUF005
    pytest.param(lambda lst: ([] + lst)[0], id="radd"),  # noqa: RUF005
    pytest.param(lambda lst: (lst * 1)[0], id="mul"),
    pytest.param(lambda lst: (1 * lst)[0], id="rmul"),
    pytest.param(lambda lst: lst.copy()[0], id="copy-method"),
    pytest.param(lambda lst: copy.copy(lst)[0], id="copy"),
    pytest.param(lambda lst: pickle.loads(pickle.dumps(lst))[0], id="pickle"),
]


@ADOPT
@pytest.mark.parametrize("where", ["managedFields", "subsets"])
@pytest.mark.parametrize("read", LIST_READS)
def test_every_read_of_a_cached_list_gives_frozen_items(
    read: Callable[[list[Any]], Any], where: str, adopt: bool,
) -> None:
    obj = stored_example(adopt)
    lst = obj["metadata"][where] if where == "managedFields" else obj[where]
    item = read(lst)
    assert isinstance(item, FrozenDict)
    assert item == example()["metadata"]["managedFields"][0] or item == example()["subsets"][0]
    with pytest.raises(TypeError):
        item["new"] = 1
    assert read(lst) == item  # and again, once settled


@ADOPT
def test_two_cached_lists_added_give_frozen_items_from_both(adopt: bool) -> None:
    obj = stored_example(adopt)
    both = obj["subsets"] + obj["metadata"]["managedFields"]
    assert both == example()["subsets"] + example()["metadata"]["managedFields"]
    assert all(isinstance(item, FrozenDict) for item in both)


@ADOPT
def test_cached_lists_compare_and_count_before_any_other_read(adopt: bool) -> None:
    subsets = stored_example(adopt)["subsets"]
    assert len(subsets) == 1
    assert subsets == example()["subsets"]
    assert {"addresses": [{"ip": "10.0.0.1"}], "ports": [80]} in subsets
    assert subsets.index(example()["subsets"][0]) == 0
    assert subsets.count(example()["subsets"][0]) == 1
    assert isinstance(subsets, FrozenList)


def test_an_adopted_object_reads_like_a_deep_frozen_copy_at_every_level() -> None:
    plain, cold = example(), stored_example(adopt=True)
    assert _frozen_like(cold, plain)
    assert _frozen_like(stored_example(adopt=False), plain)


def _frozen_like(cached: Any, plain: Any) -> bool:
    """``cached`` equals ``plain`` and is frozen at every level, read only through ``[]``."""
    if isinstance(plain, dict):
        return isinstance(cached, FrozenDict) and cached.keys() == plain.keys() and all(
            _frozen_like(cached[key], plain[key]) for key in plain)
    if isinstance(plain, list):
        return isinstance(cached, FrozenList) and len(cached) == len(plain) and all(
            _frozen_like(cached[i], plain[i]) for i in range(len(plain)))
    return type(cached) is type(plain) and cached == plain


def test_a_store_made_with_freeze_false_stores_the_object_it_is_given() -> None:
    reader, writer = store(freeze=False)
    obj = make("a")
    writer.apply(obj)
    assert reader.get("default/a") is obj


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_frozen_and_thaw_keep_every_json_value_exactly(value: Any) -> None:
    before = json.dumps(value)  # tells True from 1 and 1 from 1.0, unlike ==
    cold = frozen(value)
    assert json.dumps(cold) == before
    assert json.dumps(value) == before  # the input is not changed
    warm = thaw(cold)
    assert json.dumps(warm) == before
    assert _only_plain_containers(warm)


def _only_plain_containers(value: Any) -> bool:
    if isinstance(value, dict):
        return type(value) is dict and all(map(_only_plain_containers, value.values()))
    if isinstance(value, list):
        return type(value) is list and all(map(_only_plain_containers, value))
    return True


# ---------------------------------------------------------------------------------------------
# Property: whatever the writes, every index equals one recomputed from the stored objects


def by_tier(obj: Obj) -> list[str]:
    tier = obj["metadata"].get("labels", {}).get("tier")
    return [tier, tier] if tier else []  # a duplicate on purpose


INDEX_FUNCS: dict[str, Callable[[Obj], Iterable[str]]] = {
    "namespace": index_by_namespace, "owner": index_by_owner_uid, "app": by_app,
}

OBJECTS = st.builds(
    make,
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from([None, "default", "prod"]),
    rv=st.sampled_from([None, "1", "2", "3"]),
    labels=st.fixed_dictionaries({}, optional={
        "app": st.sampled_from(["web", "db"]), "tier": st.sampled_from(["front", "back"]),
    }),
    owners=st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=3),
)


class StoreIndexes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.reader, self.writer = store(indexers={"app": by_app})
        self.funcs = dict(INDEX_FUNCS)
        self.model: dict[str, Obj] = {}

    @rule(obj=OBJECTS)
    def apply(self, obj: Obj) -> None:
        key = object_key(obj)
        assert self.writer.apply(obj).old == self.model.get(key)
        self.model[key] = obj

    @rule(obj=OBJECTS)
    def delete(self, obj: Obj) -> None:
        key = object_key(obj)
        assert self.writer.delete(key) == self.model.pop(key, None)

    @rule(objects=st.lists(OBJECTS, max_size=6), split=st.integers(0, 6))
    def replace(self, objects: list[Obj], split: int) -> None:
        new = {object_key(obj): obj for obj in objects}
        replacement = self.writer.replacement()  # in two pages, as a paginated relist adds
        replacement.add(objects[:split])
        replacement.add(objects[split:])
        added, updated, deleted = replacement.commit()
        assert sorted(map(object_key, added)) == sorted(new.keys() - self.model.keys())
        assert sorted(key for key, _ in deleted) == sorted(self.model.keys() - new.keys())
        for old, current in updated:
            assert old == self.model[object_key(old)]
            assert current == new[object_key(old)]
        for key in new.keys() & self.model.keys():
            rv = new[key]["metadata"].get("resourceVersion")
            if rv is not None and rv == self.model[key]["metadata"].get("resourceVersion"):
                assert key not in {object_key(current) for _, current in updated}
                new[key] = self.model[key]  # unchanged: the stored instance is kept
        self.model = new

    @precondition(lambda self: "tier" not in self.funcs)
    @rule()
    def add_indexer(self) -> None:
        self.writer.add_indexers({"tier": by_tier})
        self.funcs["tier"] = by_tier

    @invariant()
    def the_store_holds_the_model(self) -> None:
        assert self.reader.keys() == list(self.model)
        assert {object_key(obj): obj for obj in self.reader.list()} == self.model
        assert self.reader.index_names == sorted(self.funcs)

    @invariant()
    def every_index_equals_one_recomputed_from_scratch(self) -> None:
        for name, func in self.funcs.items():
            expected: dict[str, set[str]] = {}
            for obj in self.reader.list():
                for value in func(obj):
                    expected.setdefault(value, set()).add(object_key(obj))
            actual = {value: self.reader.index_keys(name, value)
                      for value in self.reader.list_index_values(name)}
            assert {value: set(keys) for value, keys in actual.items()} == expected
            for value, keys in actual.items():
                assert len(keys) == len(set(keys))
                assert all(a is self.reader.get(key) for a, key in
                           zip(self.reader.by_index(name, value), keys, strict=True))


TestStoreIndexes = StoreIndexes.TestCase
TestStoreIndexes.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
