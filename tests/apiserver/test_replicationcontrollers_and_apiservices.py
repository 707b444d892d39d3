"""ReplicationControllers (``kubectl get rc``, ``kubectl scale rc``) and APIServices
(``kubectl get apiservices``): the older and the aggregator's APIs real tools still call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import kubernetes

RC: dict[str, Any] = {
    "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
    "spec": {"replicas": 2, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
}


def test_a_replication_controller_defaults_its_selector_and_labels_from_its_template(
        core_v1: kubernetes.client.CoreV1Api) -> None:
    rc = core_v1.create_namespaced_replication_controller("default", RC)
    assert isinstance(rc, kubernetes.client.V1ReplicationController)
    assert rc.spec.selector == {"app": "web"}
    assert rc.metadata.labels == {"app": "web"}
    assert rc.metadata.generation == 1


def test_a_replication_controller_scales_through_its_scale_subresource(
        core_v1: kubernetes.client.CoreV1Api) -> None:
    core_v1.create_namespaced_replication_controller("default", RC)
    scale = core_v1.patch_namespaced_replication_controller_scale(
        "web", "default", {"spec": {"replicas": 4}})
    assert isinstance(scale, kubernetes.client.V1Scale)
    assert scale.spec.replicas == 4
    assert scale.status.selector == "app=web"
    assert core_v1.read_namespaced_replication_controller("web", "default").spec.replicas == 4


def test_a_replication_controllers_status_is_written_through_status_only(
        core_v1: kubernetes.client.CoreV1Api) -> None:
    core_v1.create_namespaced_replication_controller("default", RC)
    core_v1.patch_namespaced_replication_controller(
        "web", "default", {"status": {"replicas": 9}})
    assert core_v1.read_namespaced_replication_controller("web", "default").status is None
    core_v1.patch_namespaced_replication_controller_status(
        "web", "default", {"status": {"replicas": 2}})
    status = core_v1.read_namespaced_replication_controller_status("web", "default").status
    assert status.replicas == 2


def test_kubectl_gets_and_scales_a_replication_controller(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(RC))
    assert kubectl("get", "rc").stdout.split("\n")[0].split() == [
        "NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert "replicationcontroller/web scaled" in kubectl(
        "scale", "rc", "web", "--replicas=5").stdout
    assert kubectl("get", "rc", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5"
    assert "replicationcontroller/web" in kubectl("get", "all").stdout


def test_every_served_group_version_is_a_local_available_apiservice(
        api_client: kubernetes.client.ApiClient, raw: Any) -> None:
    apiservices = kubernetes.client.ApiregistrationV1Api(api_client).list_api_service()
    by_name = {a.metadata.name: a for a in apiservices.items}
    served = {"v1."} | {
        f"{v['version']}.{g['name']}" for g in raw("GET", "/apis").body["groups"]
        for v in g["versions"] if g["name"] != "apiregistration.k8s.io"}
    assert set(by_name) == served
    core = by_name["v1."]
    assert (core.spec.group, core.spec.version, core.spec.group_priority_minimum,
            core.spec.version_priority, core.spec.service) == (None, "v1", 18000, 1, None)
    assert by_name["v1.apps"].spec.group_priority_minimum == 17800
    for apiservice in apiservices.items:
        [condition] = apiservice.status.conditions
        assert (condition.type, condition.status, condition.reason) == (
            "Available", "True", "Local")
        assert apiservice.metadata.labels == {
            "kube-aggregator.kubernetes.io/automanaged": "onstart"}


def test_a_crds_group_versions_come_and_go_with_it(
        api_client: kubernetes.client.ApiClient, widget_crd: dict[str, Any],
        wait_until: Callable[..., Any]) -> None:
    api = kubernetes.client.ApiregistrationV1Api(api_client)

    def names() -> set[str]:
        return {a.metadata.name for a in api.list_api_service().items}

    wait_until(lambda: "v1.example.com" in names(), what="the CRD's APIService")
    widgets = api.read_api_service("v1.example.com")
    assert (widgets.spec.group_priority_minimum, widgets.spec.version_priority) == (1000, 100)
    assert widgets.metadata.labels == {"kube-aggregator.kubernetes.io/automanaged": "true"}
    kubernetes.client.ApiextensionsV1Api(api_client).delete_custom_resource_definition(
        widget_crd["metadata"]["name"])
    wait_until(lambda: "v1.example.com" not in names(), what="the APIService to go")


def test_kubectl_gets_apiservices(kubectl: Any) -> None:
    lines = kubectl("get", "apiservices").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:3] == ["v1.", "Local", "True"]
    assert any(line.split()[:3] == ["v1.apps", "Local", "True"] for line in lines)
