"""Deletion through the official ``kubernetes`` client: finalizers, preconditions, propagation
policies and the garbage collector, deletecollection, and namespace termination."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client import ApiException, AppsV1Api, CoreV1Api

Wait = Callable[..., Any]


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def configmap(name: str, *, labels: dict[str, str] | None = None,
              finalizers: list[str] | None = None,
              owners: list[Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    if finalizers:
        meta["finalizers"] = finalizers
    if owners:
        meta["ownerReferences"] = [owner_ref(o, block=block) for o, block in owners]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def deployment(name: str, *, owners: list[Any] | None = None) -> dict[str, Any]:
    labels = {"app": name}
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owners:
        meta["ownerReferences"] = [owner_ref(o, block=block) for o, block in owners]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
        }},
    }


def owner_ref(owner: Any, *, block: bool = False) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
            "uid": owner.metadata.uid, "blockOwnerDeletion": block}


def exists(read: Callable[..., Any], *args: str) -> bool:
    try:
        read(*args)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def gone(read: Callable[..., Any], *args: str) -> Callable[[], bool]:
    return lambda: not exists(read, *args)


# -- finalizers ---------------------------------------------------------------------------------


def test_deleting_an_object_with_finalizers_only_marks_it_with_a_deletion_timestamp(
    core_v1: CoreV1Api,
) -> None:
    created = core_v1.create_namespaced_config_map(
        "default", configmap("held", finalizers=["example.com/a", "example.com/b"]))
    core_v1.delete_namespaced_config_map("held", "default")
    held = core_v1.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_grace_period_seconds == 0
    assert held.metadata.finalizers == ["example.com/a", "example.com/b"]
    assert int(held.metadata.resource_version) > int(created.metadata.resource_version)
    # Deleting again changes nothing: the deletion is already under way.
    core_v1.delete_namespaced_config_map("held", "default")
    again = core_v1.read_namespaced_config_map("held", "default")
    assert again.metadata.resource_version == held.metadata.resource_version


def test_the_object_goes_when_its_last_finalizer_is_removed_with_modified_then_deleted(
    core_v1: CoreV1Api,
) -> None:
    created = core_v1.create_namespaced_config_map(
        "default", configmap("final", finalizers=["example.com/a", "example.com/b"]))
    core_v1.delete_namespaced_config_map("final", "default")
    core_v1.patch_namespaced_config_map("final", "default", [
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ])
    assert exists(core_v1.read_namespaced_config_map, "final", "default")
    core_v1.patch_namespaced_config_map("final", "default", [
        {"op": "remove", "path": "/metadata/finalizers"},
    ])
    assert not exists(core_v1.read_namespaced_config_map, "final", "default")

    stream = watch.Watch().stream(
        core_v1.list_namespaced_config_map, "default", field_selector="metadata.name=final",
        resource_version=created.metadata.resource_version, timeout_seconds=5,
    )
    events = []
    for event in stream:
        obj = event["object"]
        events.append((event["type"], obj.metadata.deletion_timestamp is not None,
                       obj.metadata.finalizers))
        if event["type"] == "DELETED":
            break
    assert events == [
        ("MODIFIED", True, ["example.com/a", "example.com/b"]),
        ("MODIFIED", True, ["example.com/b"]),
        ("DELETED", True, None),
    ]


def test_no_new_finalizer_can_be_added_while_the_object_is_being_deleted(
    core_v1: CoreV1Api,
) -> None:
    core_v1.create_namespaced_config_map("default", configmap("late", finalizers=["example.com/a"]))
    core_v1.delete_namespaced_config_map("late", "default")
    with pytest.raises(ApiException) as e:
        core_v1.patch_namespaced_config_map(
            "late", "default", {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}})
    status = status_of(e.value)
    assert e.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"] == [{
        "reason": "FieldValueForbidden",
        "message": "Forbidden: no new finalizers can be added if the object is being deleted, "
                   "found new finalizers []string{\"example.com/b\"}",
        "field": "metadata.finalizers",
    }]
    assert core_v1.read_namespaced_config_map("late", "default").metadata.finalizers == [
        "example.com/a"]


def test_deleting_a_missing_object_is_404(core_v1: CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.delete_namespaced_config_map("ghost", "default")
    assert e.value.status == 404
    assert status_of(e.value)["message"] == 'configmaps "ghost" not found'


# -- preconditions ------------------------------------------------------------------------------


def test_a_delete_with_a_mismatching_uid_precondition_is_409(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("pre-uid"))
    with pytest.raises(ApiException) as e:
        core_v1.delete_namespaced_config_map(
            "pre-uid", "default", body={"preconditions": {"uid": "not-the-uid"}})
    assert e.value.status == 409
    assert status_of(e.value)["reason"] == "Conflict"
    assert status_of(e.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "pre-uid": Precondition failed: '
        f"UID in precondition: not-the-uid, UID in object meta: {cm.metadata.uid}"
    )
    assert exists(core_v1.read_namespaced_config_map, "pre-uid", "default")


def test_a_delete_with_a_stale_resource_version_precondition_is_409(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("pre-rv"))
    stale = cm.metadata.resource_version
    current = core_v1.patch_namespaced_config_map("pre-rv", "default", {"data": {"a": "b"}})
    with pytest.raises(ApiException) as e:
        core_v1.delete_namespaced_config_map(
            "pre-rv", "default", body={"preconditions": {"resourceVersion": stale}})
    assert e.value.status == 409
    assert status_of(e.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "pre-rv": Precondition failed: '
        f"ResourceVersion in precondition: {stale}, "
        f"ResourceVersion in object meta: {current.metadata.resource_version}"
    )
    core_v1.delete_namespaced_config_map("pre-rv", "default", body={"preconditions": {
        "uid": cm.metadata.uid, "resourceVersion": current.metadata.resource_version}})
    assert not exists(core_v1.read_namespaced_config_map, "pre-rv", "default")


# -- propagation policies and the garbage collector ---------------------------------------------


def test_background_deletion_collects_configmaps_and_deployments_owned_by_the_owner(
    core_v1: CoreV1Api, apps_v1: AppsV1Api, wait_until: Wait,
) -> None:
    owner = core_v1.create_namespaced_config_map("default", configmap("bg-owner"))
    core_v1.create_namespaced_config_map("default", configmap("bg-cm", owners=[(owner, False)]))
    apps_v1.create_namespaced_deployment("default", deployment("bg-deploy", owners=[(owner, True)]))
    bystander = core_v1.create_namespaced_config_map("default", configmap("bystander"))
    core_v1.delete_namespaced_config_map("bg-owner", "default", propagation_policy="Background")
    assert not exists(core_v1.read_namespaced_config_map, "bg-owner", "default")
    wait_until(gone(core_v1.read_namespaced_config_map, "bg-cm", "default"))
    wait_until(gone(apps_v1.read_namespaced_deployment, "bg-deploy", "default"))
    assert core_v1.read_namespaced_config_map("bystander", "default").metadata.uid == \
        bystander.metadata.uid


def test_foreground_deletion_keeps_the_owner_until_blocking_dependents_are_gone(
    core_v1: CoreV1Api, wait_until: Wait,
) -> None:
    owner = core_v1.create_namespaced_config_map("default", configmap("fg-owner"))
    core_v1.create_namespaced_config_map("default", configmap(
        "fg-blocker", owners=[(owner, True)], finalizers=["example.com/slow"]))
    core_v1.create_namespaced_config_map("default", configmap(
        "fg-free", owners=[(owner, False)]))
    core_v1.delete_namespaced_config_map("fg-owner", "default", propagation_policy="Foreground")
    deleting = core_v1.read_namespaced_config_map("fg-owner", "default")
    assert deleting.metadata.deletion_timestamp is not None
    assert deleting.metadata.finalizers == ["foregroundDeletion"]

    # The dependents are deleted first (in the foreground too, whose finalizer the collector
    # drops for lack of dependents); the blocking one is held back by its own finalizer.
    wait_until(gone(core_v1.read_namespaced_config_map, "fg-free", "default"))

    def blocker_deleting() -> bool:
        meta = core_v1.read_namespaced_config_map("fg-blocker", "default").metadata
        return meta.deletion_timestamp is not None and meta.finalizers == ["example.com/slow"]

    wait_until(blocker_deleting)
    owner_now = core_v1.read_namespaced_config_map("fg-owner", "default")
    assert owner_now.metadata.finalizers == ["foregroundDeletion"]

    core_v1.patch_namespaced_config_map("fg-blocker", "default",
                                        {"metadata": {"finalizers": None}})
    wait_until(gone(core_v1.read_namespaced_config_map, "fg-owner", "default"))
    assert not exists(core_v1.read_namespaced_config_map, "fg-blocker", "default")


def test_foreground_deletion_without_dependents_removes_the_owner_soon(
    core_v1: CoreV1Api, wait_until: Wait,
) -> None:
    core_v1.create_namespaced_config_map("default", configmap("fg-alone"))
    core_v1.delete_namespaced_config_map("fg-alone", "default", propagation_policy="Foreground")
    wait_until(gone(core_v1.read_namespaced_config_map, "fg-alone", "default"))


def test_orphan_deletion_keeps_dependents_and_removes_their_owner_reference(
    core_v1: CoreV1Api, apps_v1: AppsV1Api, wait_until: Wait,
) -> None:
    owner = core_v1.create_namespaced_config_map("default", configmap("orphan-owner"))
    core_v1.create_namespaced_config_map("default", configmap(
        "orphan-cm", owners=[(owner, True)]))
    apps_v1.create_namespaced_deployment("default", deployment(
        "orphan-deploy", owners=[(owner, False)]))
    core_v1.delete_namespaced_config_map("orphan-owner", "default", propagation_policy="Orphan")
    wait_until(gone(core_v1.read_namespaced_config_map, "orphan-owner", "default"))
    cm = core_v1.read_namespaced_config_map("orphan-cm", "default")
    deploy = apps_v1.read_namespaced_deployment("orphan-deploy", "default")
    assert cm.metadata.owner_references is None
    assert deploy.metadata.owner_references is None
    assert cm.metadata.deletion_timestamp is None
    assert deploy.metadata.deletion_timestamp is None


def test_orphan_dependents_true_is_the_legacy_spelling_of_the_orphan_policy(
    core_v1: CoreV1Api, wait_until: Wait,
) -> None:
    owner = core_v1.create_namespaced_config_map("default", configmap("legacy-owner"))
    core_v1.create_namespaced_config_map("default", configmap(
        "legacy-cm", owners=[(owner, False)]))
    core_v1.delete_namespaced_config_map("legacy-owner", "default", orphan_dependents=True)
    wait_until(gone(core_v1.read_namespaced_config_map, "legacy-owner", "default"))
    assert core_v1.read_namespaced_config_map("legacy-cm", "default").metadata \
        .owner_references is None


def test_an_unknown_propagation_policy_is_400(core_v1: CoreV1Api) -> None:
    core_v1.create_namespaced_config_map("default", configmap("policy"))
    with pytest.raises(ApiException) as e:
        core_v1.delete_namespaced_config_map("policy", "default", propagation_policy="Sideways")
    assert e.value.status == 400
    assert exists(core_v1.read_namespaced_config_map, "policy", "default")


def test_a_dependent_with_two_owners_survives_one_and_loses_the_dangling_reference(
    core_v1: CoreV1Api, wait_until: Wait,
) -> None:
    first = core_v1.create_namespaced_config_map("default", configmap("owner-1"))
    second = core_v1.create_namespaced_config_map("default", configmap("owner-2"))
    core_v1.create_namespaced_config_map("default", configmap(
        "shared", owners=[(first, False), (second, False)]))
    core_v1.delete_namespaced_config_map("owner-1", "default")

    def only_second_left() -> bool:
        refs = core_v1.read_namespaced_config_map("shared", "default").metadata.owner_references
        return [r.uid for r in refs or ()] == [second.metadata.uid]

    wait_until(only_second_left)
    core_v1.delete_namespaced_config_map("owner-2", "default")
    wait_until(gone(core_v1.read_namespaced_config_map, "shared", "default"))


def test_a_dependent_whose_owner_never_existed_is_collected(
    core_v1: CoreV1Api, wait_until: Wait,
) -> None:
    phantom = core_v1.create_namespaced_config_map("default", configmap("phantom"))
    core_v1.delete_namespaced_config_map("phantom", "default")
    core_v1.create_namespaced_config_map("default", configmap(
        "stray", owners=[(phantom, False)]))
    wait_until(gone(core_v1.read_namespaced_config_map, "stray", "default"))


# -- deletecollection ---------------------------------------------------------------------------


def test_deletecollection_deletes_only_what_the_label_selector_selects(
    core_v1: CoreV1Api,
) -> None:
    for name, tier in [("c1", "cache"), ("c2", "cache"), ("w1", "web")]:
        core_v1.create_namespaced_config_map("default", configmap(name, labels={"tier": tier}))
    core_v1.create_namespaced_config_map("kube-public", configmap("c3", labels={"tier": "cache"}))
    core_v1.delete_collection_namespaced_config_map("default", label_selector="tier=cache")
    left = core_v1.list_namespaced_config_map("default", label_selector="tier").items
    assert [cm.metadata.name for cm in left] == ["w1"]
    assert exists(core_v1.read_namespaced_config_map, "c3", "kube-public")


def test_deletecollection_respects_finalizers_of_the_selected_objects(
    core_v1: CoreV1Api,
) -> None:
    core_v1.create_namespaced_config_map("default", configmap(
        "kept", labels={"batch": "1"}, finalizers=["example.com/keep"]))
    core_v1.create_namespaced_config_map("default", configmap("dropped", labels={"batch": "1"}))
    core_v1.delete_collection_namespaced_config_map("default", label_selector="batch=1")
    kept = core_v1.read_namespaced_config_map("kept", "default")
    assert kept.metadata.deletion_timestamp is not None
    assert not exists(core_v1.read_namespaced_config_map, "dropped", "default")


# -- namespaces ---------------------------------------------------------------------------------


def test_the_default_namespaces_exist_from_the_start(core_v1: CoreV1Api) -> None:
    names = {ns.metadata.name: ns for ns in core_v1.list_namespace().items}
    assert set(names) >= {"default", "kube-system", "kube-public", "kube-node-lease"}
    assert names["default"].status.phase == "Active"
    assert names["default"].spec.finalizers == ["kubernetes"]


def test_deleting_a_namespace_deletes_its_contents_and_then_the_namespace(
    core_v1: CoreV1Api, apps_v1: AppsV1Api, wait_until: Wait,
) -> None:
    core_v1.create_namespace({"metadata": {"name": "doomed"}})
    core_v1.create_namespaced_config_map("doomed", configmap("cm"))
    core_v1.create_namespaced_secret("doomed", {"metadata": {"name": "secret"}})
    apps_v1.create_namespaced_deployment("doomed", deployment("web"))
    core_v1.create_namespaced_config_map("default", configmap("neighbour"))
    core_v1.delete_namespace("doomed")
    terminating = core_v1.read_namespace("doomed") if exists(
        core_v1.read_namespace, "doomed") else None
    if terminating is not None:  # the namespace controller may already be done
        assert terminating.status.phase == "Terminating"
    wait_until(gone(core_v1.read_namespace, "doomed"))
    assert core_v1.list_namespaced_config_map("doomed").items == []
    assert core_v1.list_namespaced_secret("doomed").items == []
    assert apps_v1.list_namespaced_deployment("doomed").items == []
    assert exists(core_v1.read_namespaced_config_map, "neighbour", "default")


def test_a_namespace_waits_for_finalizers_of_its_contents(
    core_v1: CoreV1Api, wait_until: Wait,
) -> None:
    core_v1.create_namespace({"metadata": {"name": "slow"}})
    core_v1.create_namespaced_config_map("slow", configmap("held", finalizers=["example.com/x"]))
    core_v1.create_namespaced_config_map("slow", configmap("free"))
    core_v1.delete_namespace("slow")
    wait_until(gone(core_v1.read_namespaced_config_map, "free", "slow"))
    held = core_v1.read_namespaced_config_map("held", "slow")
    assert held.metadata.deletion_timestamp is not None
    namespace = core_v1.read_namespace("slow")
    assert namespace.status.phase == "Terminating"
    assert namespace.metadata.deletion_timestamp is not None
    core_v1.patch_namespaced_config_map("held", "slow", {"metadata": {"finalizers": None}})
    wait_until(gone(core_v1.read_namespace, "slow"))
