"""Owner references: setting, reading and removing them, and the scope rules, without a server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kopf_informers._owners import (
    controller_of,
    is_owned_by,
    remove_owner_reference,
    set_controller_reference,
    set_owner_reference,
)
from kopf_informers._store import frozen
from kopf_informers.errors import AlreadyOwnedError, InvalidArgumentError

Obj = dict[str, Any]


def foo(
    name: str = "foo", uid: str = "uid-foo", namespace: str | None = "ns1", **labels: str,
) -> Obj:
    metadata: Obj = {"name": name, "uid": uid, "labels": labels or {"app": "foo"}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo", "metadata": metadata}


def deployment(namespace: str | None = "ns1", *refs: Obj) -> Obj:
    metadata: Obj = {"name": "web"}
    if namespace is not None:
        metadata["namespace"] = namespace
    if refs:
        metadata["ownerReferences"] = list(refs)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"replicas": 1}}


def node(name: str = "node1", uid: str = "uid-node") -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": uid}}


def ref(owner: Obj, *, controller: bool = False, block: bool = False) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": controller, "blockOwnerDeletion": block}


# -- set_controller_reference ---------------------------------------------------------------------


def test_controller_reference_has_every_field_and_blocks_owner_deletion() -> None:
    child = set_controller_reference(foo(), deployment())
    assert child["metadata"]["ownerReferences"] == [{
        "apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo", "name": "foo",
        "uid": "uid-foo", "controller": True, "blockOwnerDeletion": True,
    }]


def test_controller_reference_without_blocking_owner_deletion_when_asked() -> None:
    child = set_controller_reference(foo(), deployment(), block_owner_deletion=False)
    assert child["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is False


def test_setting_returns_a_new_object_and_leaves_the_input_unchanged() -> None:
    original = deployment()
    before = copy.deepcopy(original)
    child = set_controller_reference(foo(), original)
    assert original == before
    assert child is not original
    assert child["spec"] is not original["spec"]


def test_setting_works_on_frozen_cached_objects_and_returns_a_mutable_copy() -> None:
    cached = frozen(deployment("ns1", ref(foo("other", "uid-other"))))
    child = set_controller_reference(frozen(foo()), cached)
    child["spec"]["replicas"] = 3  # mutable all the way down
    child["metadata"]["ownerReferences"][0]["name"] = "changed"
    assert cached["spec"]["replicas"] == 1
    assert len(cached["metadata"]["ownerReferences"]) == 1


def test_setting_the_controller_reference_twice_changes_nothing_more() -> None:
    once = set_controller_reference(foo(), deployment())
    twice = set_controller_reference(foo(), once)
    assert twice == once


def test_other_owners_non_controller_references_are_kept() -> None:
    other = ref(foo("other", "uid-other"))
    child = set_controller_reference(foo(), deployment("ns1", other))
    assert child["metadata"]["ownerReferences"] == [other, ref(foo(), controller=True, block=True)]


def test_an_existing_non_controller_reference_to_the_owner_becomes_the_controller() -> None:
    child = set_controller_reference(foo(), deployment("ns1", ref(foo())))
    assert child["metadata"]["ownerReferences"] == [ref(foo(), controller=True, block=True)]


def test_another_controller_makes_it_already_owned_and_is_named() -> None:
    other = ref(foo("other", "uid-other"), controller=True, block=True)
    with pytest.raises(AlreadyOwnedError) as info:
        set_controller_reference(foo(), deployment("ns1", other))
    assert info.value.controller == other
    assert info.value.obj == "Deployment ns1/web"
    assert "Foo other" in str(info.value)
    assert "uid-other" in str(info.value)


def test_a_deleted_namesake_controller_is_replaced_by_the_new_owner() -> None:
    stale = ref(foo(uid="uid-old"), controller=True, block=True)
    child = set_controller_reference(foo(uid="uid-new"), deployment("ns1", stale))
    assert child["metadata"]["ownerReferences"] == [
        ref(foo(uid="uid-new"), controller=True, block=True),
    ]


def test_the_owner_keeps_its_reference_and_the_namesake_reference_is_dropped() -> None:
    stale = ref(foo(uid="uid-old"), controller=True, block=True)
    current = ref(foo(uid="uid-new"))
    child = set_controller_reference(foo(uid="uid-new"), deployment("ns1", stale, current))
    assert child["metadata"]["ownerReferences"] == [
        ref(foo(uid="uid-new"), controller=True, block=True),
    ]


def test_same_name_but_another_kind_is_another_controller() -> None:
    bar = {**foo(), "kind": "Bar", "metadata": {**foo()["metadata"], "uid": "uid-bar"}}
    with pytest.raises(AlreadyOwnedError):
        set_controller_reference(foo(), deployment("ns1", ref(bar, controller=True)))


def test_labels_are_not_copied_unlike_kopf_adopt() -> None:
    child = set_controller_reference(foo(app="foo", tier="web"), deployment())
    assert "labels" not in child["metadata"]


def test_an_object_without_metadata_gets_it() -> None:
    child = set_controller_reference(node(), {"apiVersion": "v1", "kind": "Secret"})
    assert child["metadata"]["ownerReferences"][0]["name"] == "node1"


# -- the owner's own fields -----------------------------------------------------------------------


def test_an_owner_without_uid_is_refused_with_a_hint() -> None:
    owner = foo()
    del owner["metadata"]["uid"]
    with pytest.raises(InvalidArgumentError, match=r"no metadata\.uid.*read from the API"):
        set_controller_reference(owner, deployment())


@pytest.mark.parametrize("field", [
    pytest.param("apiVersion", id="apiVersion"),
    pytest.param("kind", id="kind"),
])
def test_an_owner_without_api_version_or_kind_is_refused(field: str) -> None:
    owner = foo()
    del owner[field]
    with pytest.raises(InvalidArgumentError, match=field):
        set_owner_reference(owner, deployment())


def test_an_owner_without_name_is_refused() -> None:
    owner = foo()
    del owner["metadata"]["name"]
    with pytest.raises(InvalidArgumentError, match=r"metadata\.name"):
        set_controller_reference(owner, deployment())


# -- scope rules ----------------------------------------------------------------------------------


def test_a_namespaced_owner_cannot_own_an_object_in_another_namespace() -> None:
    with pytest.raises(InvalidArgumentError, match="cross-namespace"):
        set_controller_reference(foo(namespace="ns1"), deployment("ns2"))


def test_a_namespaced_owner_cannot_own_a_cluster_scoped_object() -> None:
    with pytest.raises(InvalidArgumentError, match=r"cluster-scoped.*set its metadata\.namespace"):
        set_controller_reference(foo(namespace="ns1"), node())


def test_an_object_without_namespace_counts_as_cluster_scoped() -> None:
    with pytest.raises(InvalidArgumentError, match="cluster-scoped"):
        set_owner_reference(foo(namespace="ns1"), deployment(namespace=None))


def test_a_cluster_scoped_owner_can_own_namespaced_and_cluster_scoped_objects() -> None:
    assert is_owned_by(set_controller_reference(node(), deployment("ns1")), node())
    assert is_owned_by(set_controller_reference(node(), node("node2", "uid-2")), node())


def test_the_scope_rules_apply_to_non_controller_references_too() -> None:
    with pytest.raises(InvalidArgumentError, match="cross-namespace"):
        set_owner_reference(foo(namespace="ns1"), deployment("ns2"))


# -- set_owner_reference --------------------------------------------------------------------------


def test_a_non_controller_reference_is_not_a_controller_and_does_not_block() -> None:
    child = set_owner_reference(foo(), deployment())
    assert child["metadata"]["ownerReferences"] == [ref(foo(), controller=False, block=False)]
    assert controller_of(child) is None


def test_a_non_controller_reference_can_block_owner_deletion_when_asked() -> None:
    child = set_owner_reference(foo(), deployment(), block_owner_deletion=True)
    assert child["metadata"]["ownerReferences"] == [ref(foo(), controller=False, block=True)]


def test_a_non_controller_reference_does_not_conflict_with_another_controller() -> None:
    other = ref(foo("other", "uid-other"), controller=True)
    child = set_owner_reference(foo(), deployment("ns1", other))
    assert child["metadata"]["ownerReferences"] == [other, ref(foo())]


def test_a_non_controller_reference_never_demotes_the_owner_as_controller() -> None:
    controlled = set_controller_reference(foo(), deployment())
    child = set_owner_reference(foo(), controlled)
    assert child["metadata"]["ownerReferences"] == [ref(foo(), controller=True, block=False)]


def test_a_non_controller_reference_is_set_once_per_owner() -> None:
    once = set_owner_reference(foo(), deployment())
    assert set_owner_reference(foo(), once) == once


# -- remove_owner_reference -----------------------------------------------------------------------


def test_removing_the_only_reference_drops_the_field() -> None:
    child = remove_owner_reference(foo(), set_controller_reference(foo(), deployment()))
    assert "ownerReferences" not in child["metadata"]


def test_removing_keeps_other_owners_and_leaves_the_input_unchanged() -> None:
    other = ref(foo("other", "uid-other"))
    original = frozen(deployment("ns1", other, ref(foo(), controller=True)))
    child = remove_owner_reference(foo(), original)
    assert child["metadata"]["ownerReferences"] == [other]
    assert len(original["metadata"]["ownerReferences"]) == 2


def test_removing_a_reference_that_is_not_there_changes_nothing() -> None:
    assert remove_owner_reference(foo(), deployment()) == deployment()


# -- is_owned_by and controller_of ----------------------------------------------------------------


def test_owned_by_matches_the_owner_by_uid() -> None:
    child = deployment("ns1", ref(foo()))
    assert is_owned_by(child, foo())
    assert not is_owned_by(child, foo(uid="uid-recreated"))
    assert not is_owned_by(deployment(), foo())


def test_controlled_by_needs_the_controller_reference() -> None:
    assert not is_owned_by(deployment("ns1", ref(foo())), foo(), controller=True)
    assert is_owned_by(deployment("ns1", ref(foo(), controller=True)), foo(), controller=True)


def test_owned_by_refuses_an_owner_without_uid() -> None:
    owner = foo()
    del owner["metadata"]["uid"]
    with pytest.raises(InvalidArgumentError, match="uid"):
        is_owned_by(deployment(), owner)


def test_controller_of_returns_the_controller_reference_or_none() -> None:
    controller = ref(foo(), controller=True, block=True)
    other = ref(foo("other", "uid-other"))
    assert controller_of(deployment("ns1", other, controller)) == controller
    assert controller_of(deployment("ns1", ref(foo()))) is None
    assert controller_of(deployment()) is None
    assert controller_of({}) is None


def test_already_owned_is_not_an_invalid_argument() -> None:
    # What to do differs: report and leave the object alone, not fix the call.
    assert not issubclass(AlreadyOwnedError, InvalidArgumentError)
