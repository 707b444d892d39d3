"""Writes through the official ``kubernetes`` client: create, update (PUT), every PATCH flavour,
and the status and scale subresources, as kube-apiserver answers them; and the simulated workload
controller that makes a Deployment's status follow its spec."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client import ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi

from kopf_informers.testing.apiserver import EmbeddedApiServer

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
WIDGETS = ("example.com", "v1", "widgets")
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def deployment(name: str, *, replicas: int = 1, containers: list[Any] | None = None,
               ) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "containers": containers or [{"name": "main", "image": "nginx:1.27"}],
            }},
        },
    }


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name}, "spec": spec}


# -- create -------------------------------------------------------------------------------------


def test_create_answers_201_and_stamps_uid_timestamp_resource_version_and_generation(
    core_v1: CoreV1Api, apps_v1: AppsV1Api,
) -> None:
    cm, code, _ = core_v1.create_namespaced_config_map_with_http_info(
        "default", configmap("stamped"))
    assert code == 201
    assert cm.metadata.uid
    assert cm.metadata.creation_timestamp is not None
    assert int(cm.metadata.resource_version) > 0
    assert cm.metadata.generation is None  # ConfigMaps have no generation, as in real clusters
    deploy = apps_v1.create_namespaced_deployment("default", deployment("stamped"))
    assert deploy.metadata.generation == 1
    assert int(deploy.metadata.resource_version) > int(cm.metadata.resource_version)
    assert deploy.metadata.uid != cm.metadata.uid


def test_generate_name_makes_a_fresh_name_with_that_prefix_on_every_create(
    core_v1: CoreV1Api,
) -> None:
    body = {"metadata": {"generateName": "gen-"}}
    first = core_v1.create_namespaced_config_map("default", body)
    second = core_v1.create_namespaced_config_map("default", body)
    assert first.metadata.name.startswith("gen-")
    assert len(first.metadata.name) > len("gen-")
    assert first.metadata.name != second.metadata.name
    assert first.metadata.generate_name == "gen-"


def test_the_namespace_comes_from_the_url_when_the_body_names_none(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("kube-public", configmap("from-url"))
    assert cm.metadata.namespace == "kube-public"
    assert core_v1.read_namespaced_config_map("from-url", "kube-public").metadata.uid == \
        cm.metadata.uid


def test_a_body_namespace_other_than_the_url_namespace_is_400(core_v1: CoreV1Api) -> None:
    body = {"metadata": {"name": "elsewhere", "namespace": "kube-system"}}
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_config_map("default", body)
    assert e.value.status == 400
    assert status_of(e.value)["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


def test_creating_in_an_unknown_namespace_is_404_naming_the_namespace(
    core_v1: CoreV1Api,
) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_config_map("nowhere", configmap("lost"))
    status = status_of(e.value)
    assert e.value.status == 404
    assert status["reason"] == "NotFound"
    assert status["message"] == 'namespaces "nowhere" not found'
    assert status["details"] == {"name": "nowhere", "kind": "namespaces"}


def test_creating_in_a_terminating_namespace_is_403_forbidden(
    core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    core_v1.create_namespace({"metadata": {"name": "closing"}})
    held = configmap("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    core_v1.create_namespaced_config_map("closing", held)  # keeps the namespace terminating
    core_v1.delete_namespace("closing")
    wait_until(lambda: core_v1.read_namespace("closing").status.phase == "Terminating")
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_config_map("closing", configmap("late"))
    status = status_of(e.value)
    assert e.value.status == 403
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace closing '
        "because it is being terminated"
    )
    assert status["details"] == {"name": "late", "kind": "configmaps", "causes": [{
        "reason": "NamespaceTerminating", "message": "namespace closing is being terminated",
        "field": "metadata.namespace",
    }]}


def test_creating_a_duplicate_is_409_already_exists(core_v1: CoreV1Api) -> None:
    core_v1.create_namespaced_config_map("default", configmap("twice"))
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_config_map("default", configmap("twice"))
    status = status_of(e.value)
    assert e.value.status == 409
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "twice" already exists'


@pytest.mark.parametrize("name", [
    pytest.param("Upper", id="uppercase"),
    pytest.param("under_score", id="underscore"),
    pytest.param("-leading-dash", id="leading-dash"),
    pytest.param("trailing.", id="trailing-dot"),
    pytest.param("x" * 254, id="too-long"),
])
def test_a_name_that_is_no_dns_1123_subdomain_is_422_on_metadata_name(
    core_v1: CoreV1Api, name: str,
) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_config_map("default", configmap(name))
    status = status_of(e.value)
    assert e.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["message"].startswith(f'ConfigMap "{name}" is invalid: metadata.name: ')
    assert status["details"]["name"] == name
    assert status["details"]["kind"] == "ConfigMap"
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"]
    assert status["details"]["causes"][0]["reason"] in ("FieldValueInvalid", "FieldValueTooLong")


def test_a_post_without_content_type_is_decoded_as_json(
    core_v1: CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    core_v1.create_namespaced_config_map("default", configmap("untyped", key="value"))
    posts = embedded_apiserver.journal.filter(method="POST", resource="configmaps")
    assert [p.content_type for p in posts] == [""]  # the official client sends none
    assert posts[0].status == 201
    assert core_v1.read_namespaced_config_map("untyped", "default").data == {"key": "value"}


def test_a_dry_run_create_answers_with_the_object_but_stores_nothing(
    core_v1: CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    rv_before = embedded_apiserver.store.rv
    cm = core_v1.create_namespaced_config_map("default", configmap("dry", a="1"), dry_run="All")
    assert cm.metadata.name == "dry"
    assert cm.metadata.uid
    assert cm.data == {"a": "1"}
    with pytest.raises(ApiException) as e:
        core_v1.read_namespaced_config_map("dry", "default")
    assert e.value.status == 404
    assert embedded_apiserver.store.rv == rv_before


def test_dry_run_updates_patches_and_deletes_change_nothing(
    core_v1: CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("dry", a="1"))
    rv_before = embedded_apiserver.store.rv
    replaced = core_v1.replace_namespaced_config_map("dry", "default", configmap("dry", a="2"),
                                                     dry_run="All")
    assert replaced.data == {"a": "2"}
    patched = core_v1.patch_namespaced_config_map("dry", "default", {"data": {"a": "3"}},
                                                  dry_run="All")
    assert patched.data == {"a": "3"}
    core_v1.delete_namespaced_config_map("dry", "default", dry_run="All")
    current = core_v1.read_namespaced_config_map("dry", "default")
    assert current.data == {"a": "1"}
    assert current.metadata.resource_version == cm.metadata.resource_version
    assert embedded_apiserver.store.rv == rv_before


def test_an_unsupported_dry_run_value_is_400(core_v1: CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_config_map("default", configmap("dry"), dry_run="Some")
    assert e.value.status == 400


@pytest.mark.parametrize(("method", "path"), [
    pytest.param("GET", "/api/v1/namespaces/default/nodes/x", id="cluster-scoped-in-namespace"),
    pytest.param("GET", "/api/v1/configmaps/x", id="namespaced-without-namespace"),
    pytest.param("POST", "/api/v1/namespaces/default/nodes", id="create-node-in-namespace"),
    pytest.param("DELETE", "/apis/apps/v1/deployments/x", id="delete-without-namespace"),
])
def test_scope_is_enforced_by_the_path_with_a_404(
    raw: Callable[..., Any], method: str, path: str,
) -> None:
    body = {"metadata": {"name": "x"}} if method == "POST" else None
    response = raw(method, path, body=body)
    assert response.status == 404
    assert response.body["kind"] == "Status"
    assert response.body["message"] == "the server could not find the requested resource"


def test_cluster_scoped_objects_are_created_without_a_namespace(core_v1: CoreV1Api) -> None:
    node = core_v1.create_node({"metadata": {"name": "node-1", "namespace": "default"}})
    assert node.metadata.namespace is None
    assert core_v1.read_node("node-1").metadata.uid == node.metadata.uid


# -- update (PUT) -------------------------------------------------------------------------------


def test_an_update_with_a_stale_resource_version_is_409_conflict(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("occ", v="1"))
    stale = cm.metadata.resource_version
    core_v1.patch_namespaced_config_map("occ", "default", {"data": {"v": "2"}})
    body = configmap("occ", v="3")
    body["metadata"]["resourceVersion"] = stale
    with pytest.raises(ApiException) as e:
        core_v1.replace_namespaced_config_map("occ", "default", body)
    status = status_of(e.value)
    assert e.value.status == 409
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "occ": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert core_v1.read_namespaced_config_map("occ", "default").data == {"v": "2"}


def test_an_update_without_a_resource_version_is_unconditional(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("blind", v="1"))
    core_v1.patch_namespaced_config_map("blind", "default", {"data": {"v": "2"}})
    updated = core_v1.replace_namespaced_config_map("blind", "default", configmap("blind", v="3"))
    assert updated.data == {"v": "3"}
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)


def test_a_no_op_update_keeps_the_resource_version(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("same", v="1"))
    again = core_v1.replace_namespaced_config_map("same", "default", cm)
    assert again.metadata.resource_version == cm.metadata.resource_version
    patched = core_v1.patch_namespaced_config_map("same", "default", {"data": {"v": "1"}})
    assert patched.metadata.resource_version == cm.metadata.resource_version


def test_generation_bumps_on_spec_changes_but_not_on_labels_or_status(
    apps_v1: AppsV1Api,
) -> None:
    created = apps_v1.create_namespaced_deployment("default", deployment("gen"))
    assert created.metadata.generation == 1
    labelled = apps_v1.patch_namespaced_deployment(
        "gen", "default", {"metadata": {"labels": {"extra": "yes"}}})
    assert labelled.metadata.generation == 1
    assert int(labelled.metadata.resource_version) > int(created.metadata.resource_version)
    status = apps_v1.patch_namespaced_deployment_status(
        "gen", "default", {"status": {"collisionCount": 3}})
    assert status.metadata.generation == 1
    scaled = apps_v1.patch_namespaced_deployment("gen", "default", {"spec": {"replicas": 4}})
    assert scaled.metadata.generation == 2
    body = apps_v1.api_client.sanitize_for_serialization(
        apps_v1.read_namespaced_deployment("gen", "default"))
    body["spec"]["minReadySeconds"] = 5
    del body["metadata"]["resourceVersion"]  # unconditional: the simulated status may move on
    replaced = apps_v1.replace_namespaced_deployment("gen", "default", body)
    assert replaced.metadata.generation == 3


def test_an_update_keeps_the_fields_clients_cannot_change(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("fixed", v="1"))
    body = configmap("fixed", v="2")
    body["metadata"].update({
        "creationTimestamp": "2001-01-01T00:00:00Z", "generation": 42,
        "resourceVersion": cm.metadata.resource_version,
    })
    updated = core_v1.replace_namespaced_config_map("fixed", "default", body)
    assert updated.data == {"v": "2"}
    assert updated.metadata.uid == cm.metadata.uid
    assert updated.metadata.creation_timestamp == cm.metadata.creation_timestamp
    assert updated.metadata.generation is None


def test_an_update_with_another_uid_is_409_as_a_failed_precondition(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("uid", v="1"))
    body = configmap("uid", v="2")
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(ApiException) as e:
        core_v1.replace_namespaced_config_map("uid", "default", body)
    assert e.value.status == 409
    assert status_of(e.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "uid": Precondition failed: '
        "UID in precondition: 00000000-0000-0000-0000-000000000000, "
        f"UID in object meta: {cm.metadata.uid}"
    )


def test_an_update_naming_another_object_than_the_url_is_400(core_v1: CoreV1Api) -> None:
    core_v1.create_namespaced_config_map("default", configmap("here"))
    with pytest.raises(ApiException) as e:
        core_v1.replace_namespaced_config_map("here", "default", configmap("there"))
    assert e.value.status == 400
    assert status_of(e.value)["message"] == (
        "the name of the object (there) does not match the name on the URL (here)"
    )


def test_updating_a_missing_object_is_404(core_v1: CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.replace_namespaced_config_map("ghost", "default", configmap("ghost"))
    assert e.value.status == 404
    assert status_of(e.value)["message"] == 'configmaps "ghost" not found'


# -- patch: merge and JSON ----------------------------------------------------------------------


def test_a_merge_patch_merges_maps_and_null_removes_keys(core_v1: CoreV1Api) -> None:
    core_v1.create_namespaced_config_map("default", configmap("merged", a="1", b="2"))
    patched = core_v1.patch_namespaced_config_map(
        "merged", "default", {"data": {"b": None, "c": "3"}, "metadata": {"labels": {"x": "y"}}},
        _content_type=MERGE,
    )
    assert patched.data == {"a": "1", "c": "3"}
    assert patched.metadata.labels == {"x": "y"}


def test_a_json_patch_guarded_by_a_resource_version_test_adds_a_finalizer_as_kopf_does(
    core_v1: CoreV1Api,
) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("guarded"))
    rv = cm.metadata.resource_version
    patched = core_v1.patch_namespaced_config_map("guarded", "default", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": [KOPF_FINALIZER]},
    ])
    assert patched.metadata.finalizers == [KOPF_FINALIZER]
    assert int(patched.metadata.resource_version) > int(rv)


def test_a_json_patch_whose_test_fails_is_422_and_changes_nothing(core_v1: CoreV1Api) -> None:
    cm = core_v1.create_namespaced_config_map("default", configmap("raced"))
    stale = cm.metadata.resource_version
    core_v1.patch_namespaced_config_map("raced", "default", {"data": {"moved": "on"}})
    with pytest.raises(ApiException) as e:
        core_v1.patch_namespaced_config_map("raced", "default", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": stale},
            {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/mine"]},
        ])
    assert e.value.status == 422
    assert status_of(e.value)["reason"] == "Invalid"
    assert "testing value /metadata/resourceVersion failed" in status_of(e.value)["message"]
    assert core_v1.read_namespaced_config_map("raced", "default").metadata.finalizers is None


def test_a_guarded_json_patch_works_on_custom_resources_too(
    custom_objects: CustomObjectsApi, widget_crd: Any,
) -> None:
    group, version, plural = WIDGETS
    created = custom_objects.create_namespaced_custom_object(group, version, "default", plural,
                                                             widget("kopfed", color="red"))
    rv = created["metadata"]["resourceVersion"]
    guarded = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": [KOPF_FINALIZER]},
    ]
    patched = custom_objects.patch_namespaced_custom_object(
        group, version, "default", plural, "kopfed", guarded, _content_type=JSON_PATCH)
    assert patched["metadata"]["finalizers"] == [KOPF_FINALIZER]
    with pytest.raises(ApiException) as e:  # the same patch again: its test is stale now
        custom_objects.patch_namespaced_custom_object(
            group, version, "default", plural, "kopfed", guarded, _content_type=JSON_PATCH)
    assert e.value.status == 422


def test_a_json_patch_on_a_missing_path_is_422(core_v1: CoreV1Api) -> None:
    core_v1.create_namespaced_config_map("default", configmap("holes"))
    with pytest.raises(ApiException) as e:
        core_v1.patch_namespaced_config_map("holes", "default", [
            {"op": "replace", "path": "/data/missing", "value": "x"},
        ])
    assert e.value.status == 422


def test_a_patch_of_a_missing_object_is_404(core_v1: CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.patch_namespaced_config_map("ghost", "default", {"data": {"a": "b"}},
                                            _content_type=MERGE)
    assert e.value.status == 404


# -- patch: strategic merge ---------------------------------------------------------------------


def test_a_strategic_merge_patch_merges_containers_env_and_ports_by_their_keys(
    apps_v1: AppsV1Api,
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("smp", containers=[
        {"name": "main", "image": "nginx:1.27",
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "ports": [{"containerPort": 80, "name": "http"}]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ]))
    patched = apps_v1.patch_namespaced_deployment("smp", "default", {"spec": {"template": {
        "spec": {"containers": [{
            "name": "main", "image": "nginx:1.28",
            "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
            "ports": [{"containerPort": 443, "name": "https"}],
        }]},
    }}})
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert list(containers) == ["main", "sidecar"]
    main = containers["main"]
    assert main.image == "nginx:1.28"
    assert {e.name: e.value for e in main.env} == {"A": "1", "B": "two", "C": "3"}
    assert sorted(p.container_port for p in main.ports) == [80, 443]
    assert containers["sidecar"].image == "busybox:1.36"


def test_a_strategic_merge_patch_deletes_list_items_with_the_patch_directive(
    apps_v1: AppsV1Api,
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("smpdel", containers=[
        {"name": "main", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"},
                                                          {"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ]))
    patched = apps_v1.patch_namespaced_deployment("smpdel", "default", {"spec": {"template": {
        "spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"},
            {"name": "main", "env": [{"name": "A", "$patch": "delete"}]},
        ]},
    }}})
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["main"]
    assert [e.name for e in containers[0].env] == ["B"]


def test_a_strategic_merge_patch_merges_finalizers_as_a_set(core_v1: CoreV1Api) -> None:
    body = configmap("finalized")
    body["metadata"]["finalizers"] = ["example.com/a"]
    core_v1.create_namespaced_config_map("default", body)
    patched = core_v1.patch_namespaced_config_map("finalized", "default", {
        "metadata": {"finalizers": ["example.com/b", "example.com/a"]}})
    assert patched.metadata.finalizers == ["example.com/a", "example.com/b"]


def test_a_strategic_merge_patch_of_a_custom_resource_is_415(
    custom_objects: CustomObjectsApi, widget_crd: Any,
) -> None:
    custom_objects.create_namespaced_custom_object(*WIDGETS[:2], "default", WIDGETS[2],
                                                   widget("w", color="red"))
    with pytest.raises(ApiException) as e:
        custom_objects.patch_namespaced_custom_object(
            *WIDGETS[:2], "default", WIDGETS[2], "w", {"spec": {"color": "blue"}},
            _content_type=STRATEGIC,
        )
    status = status_of(e.value)
    assert e.value.status == 415
    assert status["reason"] == "UnsupportedMediaType"
    assert "application/merge-patch+json" in status["message"]


# -- patch: server-side apply -------------------------------------------------------------------


def test_server_side_apply_creates_then_updates_and_records_managed_fields(
    core_v1: CoreV1Api,
) -> None:
    applied, code, _ = core_v1.patch_namespaced_config_map_with_http_info(
        "applied", "default", configmap("applied", a="1", b="2"),
        field_manager="tester", _content_type=APPLY,
    )
    assert code == 201
    assert applied.data == {"a": "1", "b": "2"}
    entries = applied.metadata.managed_fields
    assert [(m.manager, m.operation) for m in entries] == [("tester", "Apply")]
    assert entries[0].fields_type == "FieldsV1"
    assert entries[0].fields_v1 == {"f:data": {"f:a": {}, "f:b": {}}}

    updated, code, _ = core_v1.patch_namespaced_config_map_with_http_info(
        "applied", "default", configmap("applied", a="10"),
        field_manager="tester", _content_type=APPLY,
    )
    assert code == 200
    assert updated.data == {"a": "10"}  # b was owned by this manager and is no longer applied
    assert updated.metadata.uid == applied.metadata.uid
    assert updated.metadata.managed_fields[0].fields_v1 == {"f:data": {"f:a": {}}}


def test_server_side_apply_without_a_field_manager_is_422(core_v1: CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core_v1.patch_namespaced_config_map("nomanager", "default", configmap("nomanager"),
                                            _content_type=APPLY)
    assert e.value.status == 422


def test_server_side_apply_keeps_fields_of_other_managers(core_v1: CoreV1Api) -> None:
    core_v1.patch_namespaced_config_map("shared", "default", configmap("shared", a="1"),
                                        field_manager="first", _content_type=APPLY)
    core_v1.patch_namespaced_config_map("shared", "default", configmap("shared", b="2"),
                                        field_manager="second", _content_type=APPLY)
    result = core_v1.read_namespaced_config_map("shared", "default")
    assert result.data == {"a": "1", "b": "2"}
    assert sorted(m.manager for m in result.metadata.managed_fields) == ["first", "second"]


# -- status subresource -------------------------------------------------------------------------


def test_a_patch_of_the_main_resource_does_not_change_its_status(
    custom_objects: CustomObjectsApi, widget_crd: Any,
) -> None:
    group, version, plural = WIDGETS
    custom_objects.create_namespaced_custom_object(group, version, "default", plural,
                                                   widget("iso", color="red"))
    custom_objects.patch_namespaced_custom_object_status(
        group, version, "default", plural, "iso", {"status": {"phase": "Ready"}})
    patched = custom_objects.patch_namespaced_custom_object(
        group, version, "default", plural, "iso",
        {"spec": {"color": "blue"}, "status": {"phase": "Hacked"}},
    )
    assert patched["spec"] == {"color": "blue"}
    assert patched["status"] == {"phase": "Ready"}


def test_a_patch_of_the_status_subresource_does_not_change_the_spec_or_labels(
    custom_objects: CustomObjectsApi, widget_crd: Any,
) -> None:
    group, version, plural = WIDGETS
    created = custom_objects.create_namespaced_custom_object(
        group, version, "default", plural, widget("iso2", color="red"))
    patched = custom_objects.patch_namespaced_custom_object_status(
        group, version, "default", plural, "iso2",
        {"spec": {"color": "blue"}, "status": {"phase": "Ready"},
         "metadata": {"labels": {"sneaky": "yes"}}},
    )
    assert patched["spec"] == {"color": "red"}
    assert patched["status"] == {"phase": "Ready"}
    assert "labels" not in patched["metadata"]
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]


def test_a_create_ignores_the_status_of_a_resource_with_a_status_subresource(
    custom_objects: CustomObjectsApi, widget_crd: Any,
) -> None:
    group, version, plural = WIDGETS
    body = widget("born", color="red")
    body["status"] = {"phase": "Preset"}
    created = custom_objects.create_namespaced_custom_object(group, version, "default",
                                                             plural, body)
    assert "status" not in created


def test_a_put_of_the_deployment_status_changes_only_the_status(
    apps_v1: AppsV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("putstatus"))
    # The simulated controller writes the status once; a PUT before that would be stale.
    def settled() -> Any:
        found = apps_v1.read_namespaced_deployment("putstatus", "default")
        return found if found.status and found.status.replicas else None

    current = wait_until(settled)
    body = apps_v1.api_client.sanitize_for_serialization(current)
    body["spec"]["replicas"] = 9
    body["status"] = {"collisionCount": 1}
    updated = apps_v1.replace_namespaced_deployment_status("putstatus", "default", body)
    assert updated.status.collision_count == 1
    assert updated.spec.replicas == 1


# -- scale subresource --------------------------------------------------------------------------


def test_the_deployment_scale_subresource_reads_and_writes_the_replicas(
    apps_v1: AppsV1Api,
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("scaled", replicas=2))
    scale = apps_v1.read_namespaced_deployment_scale("scaled", "default")
    assert scale.kind == "Scale"
    assert scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=scaled"
    patched = apps_v1.patch_namespaced_deployment_scale(
        "scaled", "default", {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    deploy = apps_v1.read_namespaced_deployment("scaled", "default")
    assert deploy.spec.replicas == 5
    assert deploy.metadata.generation == 2
    replaced = apps_v1.replace_namespaced_deployment_scale("scaled", "default", {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "scaled", "namespace": "default"}, "spec": {"replicas": 1},
    })
    assert replaced.spec.replicas == 1
    assert apps_v1.read_namespaced_deployment("scaled", "default").spec.replicas == 1


def test_a_negative_scale_is_422(apps_v1: AppsV1Api) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("negative"))
    with pytest.raises(ApiException) as e:
        apps_v1.patch_namespaced_deployment_scale("negative", "default",
                                                  {"spec": {"replicas": -1}})
    assert e.value.status == 422


def test_the_scale_subresource_of_a_custom_resource_follows_the_crd_paths(
    custom_objects: CustomObjectsApi, widget_crd: Any,
) -> None:
    group, version, plural = WIDGETS
    custom_objects.create_namespaced_custom_object(group, version, "default", plural,
                                                   widget("cr", replicas=3))
    custom_objects.patch_namespaced_custom_object_status(
        group, version, "default", plural, "cr",
        {"status": {"replicas": 2, "selector": "app=cr"}})
    scale = custom_objects.get_namespaced_custom_object_scale(group, version, "default",
                                                              plural, "cr")
    assert scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 2, "selector": "app=cr"}
    patched = custom_objects.patch_namespaced_custom_object_scale(
        group, version, "default", plural, "cr", {"spec": {"replicas": 7}})
    assert patched["spec"] == {"replicas": 7}
    obj = custom_objects.get_namespaced_custom_object(group, version, "default", plural, "cr")
    assert obj["spec"]["replicas"] == 7
    assert obj["metadata"]["generation"] == 2


# -- workload simulation (a controller) -------------------------------------------------------


def test_a_deployments_status_follows_its_spec_and_again_after_scaling(
    apps_v1: AppsV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("web", replicas=2))

    def rolled_out(generation: int, replicas: int) -> Callable[[], Any]:
        def check() -> Any:
            found = apps_v1.read_namespaced_deployment("web", "default")
            status = found.status
            if status is None or status.observed_generation != generation:
                return None
            return found if status.ready_replicas == replicas else None
        return check

    deploy = wait_until(rolled_out(1, 2))
    status = deploy.status
    assert (status.replicas, status.ready_replicas, status.available_replicas,
            status.updated_replicas) == (2, 2, 2, 2)
    conditions = {c.type: c for c in status.conditions}
    assert conditions["Available"].status == "True"
    assert conditions["Available"].reason == "MinimumReplicasAvailable"
    assert conditions["Progressing"].status == "True"

    apps_v1.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    deploy = wait_until(rolled_out(2, 5))
    assert (deploy.status.replicas, deploy.status.available_replicas) == (5, 5)
    assert apps_v1.read_namespaced_deployment_scale("web", "default").status.replicas == 5

    apps_v1.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 0}})

    def scaled_down() -> Any:
        found = apps_v1.read_namespaced_deployment("web", "default")
        return found if found.status.observed_generation == 3 else None

    status = wait_until(scaled_down).status
    # Zero counts are omitted from a Deployment's status, as the real controller leaves them.
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (
        None, None, None)
    assert {c.type: c.status for c in status.conditions}["Available"] == "True"


def test_secret_string_data_is_stored_as_base64_data(core_v1: CoreV1Api) -> None:
    core_v1.create_namespaced_secret("default", {
        "metadata": {"name": "creds"}, "data": {"a": base64.b64encode(b"1").decode()},
        "stringData": {"b": "two"},
    })
    secret = core_v1.read_namespaced_secret("creds", "default")
    assert secret.string_data is None
    assert base64.b64decode(secret.data["b"]) == b"two"
    assert base64.b64decode(secret.data["a"]) == b"1"
    assert secret.type == "Opaque"
