"""The OpenAPI v3 surface: what kubectl 1.32 reads from it, checked the way kubectl reads it."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kopf_informers.testing.apiserver.endpoints._openapi import (
    document_hash,
    group_version_path,
    openapi_v3_document,
    openapi_v3_index,
    schema_name,
)
from kopf_informers.testing.apiserver.registry._builtins import BUILTIN_RESOURCES
from kopf_informers.testing.apiserver.registry._resources import ResourceInfo, resources_from_crd

FOO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "since": {"type": "string", "default": datetime.date(2020, 1, 1)},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
FOO_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "foos.samplecontroller.k8s.io"},
    "spec": {
        "group": "samplecontroller.k8s.io",
        "scope": "Namespaced",
        "names": {"plural": "foos", "singular": "foo", "kind": "Foo"},
        "versions": [
            {"name": "v1alpha1", "served": True, "storage": True,
             "schema": {"openAPIV3Schema": FOO_SCHEMA}, "subresources": {"status": {}}},
        ],
    },
}
FOOS = resources_from_crd(FOO_CRD)
[FOO] = FOOS
ALL = [*BUILTIN_RESOURCES, *FOOS]
# The reviews are only created: no PATCH tags them, on a real server either (kubectl then falls
# back to OpenAPI v2 to validate them).
PATCHABLE = [r for r in ALL if "patch" in r.verbs]


def _gvk(resource: ResourceInfo) -> dict[str, str]:
    return {"group": resource.group, "version": resource.version, "kind": resource.kind}


def _document(resource: ResourceInfo) -> dict[str, Any]:
    return openapi_v3_document(resource.group, resource.version, ALL)


def _patch_operations(document: dict[str, Any], resource: ResourceInfo,
                      ) -> Iterator[dict[str, Any]]:
    """Every PATCH operation kubectl would attribute to the resource's kind."""
    for path_item in document["paths"].values():
        patch = path_item.get("patch")
        if patch is not None and patch["x-kubernetes-group-version-kind"] == _gvk(resource):
            yield patch


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_the_index_lists_every_served_group_version_with_its_document_url() -> None:
    index = openapi_v3_index(ALL)
    expected = {group_version_path(r.group, r.version) for r in ALL}
    assert set(index["paths"]) == expected
    assert "api/v1" in index["paths"]
    assert "apis/apps/v1" in index["paths"]
    assert "apis/samplecontroller.k8s.io/v1alpha1" in index["paths"]


@pytest.mark.parametrize(("group", "version"), [
    pytest.param("", "v1", id="core"),
    pytest.param("apps", "v1", id="apps"),
    pytest.param("samplecontroller.k8s.io", "v1alpha1", id="custom"),
])
def test_the_index_hash_is_the_upper_case_sha512_of_the_document(group: str, version: str,
                                                                 ) -> None:
    tail = group_version_path(group, version)
    url = openapi_v3_index(ALL)["paths"][tail]["serverRelativeURL"]
    match = re.fullmatch(rf"/openapi/v3/{re.escape(tail)}\?hash=([0-9A-F]{{128}})", url)
    assert match is not None
    assert match.group(1) == document_hash(openapi_v3_document(group, version, ALL))


def test_the_hash_changes_only_for_the_group_version_whose_document_changes() -> None:
    before = openapi_v3_index(ALL)["paths"]
    changed_schema = {"type": "object", "properties": {"spec": {"type": "object"}}}
    changed = dataclasses.replace(FOO, schema=changed_schema)
    after = openapi_v3_index([*BUILTIN_RESOURCES, changed])["paths"]
    custom = "apis/samplecontroller.k8s.io/v1alpha1"
    assert after[custom] != before[custom]
    assert {k: v for k, v in after.items() if k != custom} == {
        k: v for k, v in before.items() if k != custom}


def test_a_group_version_that_stops_being_served_leaves_the_index() -> None:
    index = openapi_v3_index(BUILTIN_RESOURCES)
    assert "apis/samplecontroller.k8s.io/v1alpha1" not in index["paths"]


def test_documents_are_plain_json_even_with_yaml_dates_in_a_crd_schema() -> None:
    document = _document(FOO)
    json.dumps(document)  # no TypeError
    since = document["components"]["schemas"][schema_name(FOO)]["properties"]["spec"]
    assert since["properties"]["since"]["default"] == "2020-01-01"


def test_a_document_holds_only_its_own_group_version() -> None:
    document = openapi_v3_document("apps", "v1", ALL)
    assert all(path.startswith("/apis/apps/v1/") for path in document["paths"])
    kinds = {s["x-kubernetes-group-version-kind"][0]["kind"]
             for s in document["components"]["schemas"].values()
             if "x-kubernetes-group-version-kind" in s}
    assert kinds == {
        "Deployment", "DeploymentList", "ReplicaSet", "ReplicaSetList", "StatefulSet",
        "StatefulSetList", "DaemonSet", "DaemonSetList", "ControllerRevision",
        "ControllerRevisionList",
    }


def test_a_group_version_with_no_resources_has_no_paths() -> None:
    assert openapi_v3_document("nowhere.example.com", "v1", ALL)["paths"] == {}


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.name) for r in PATCHABLE])
def test_kubectl_finds_the_field_validation_parameter_so_it_validates_on_the_server(
        resource: ResourceInfo) -> None:
    # kubectl stops at the first PATCH tagged with the kind, in map order: all must qualify.
    patches = list(_patch_operations(_document(resource), resource))
    assert patches
    for patch in patches:
        query = {p["name"] for p in patch["parameters"] if p["in"] == "query"}
        assert "fieldValidation" in query


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.name) for r in ALL])
def test_kubectl_builds_apply_patches_from_its_own_types_not_from_these_schemas(
        resource: ResourceInfo) -> None:
    for patch in _patch_operations(_document(resource), resource):
        content = patch["requestBody"]["content"]
        assert "application/strategic-merge-patch+json" not in content
        assert "application/merge-patch+json" in content
        assert "application/apply-patch+yaml" in content


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.name) for r in ALL])
def test_writes_accept_field_validation_too(resource: ResourceInfo) -> None:
    for path_item in _document(resource)["paths"].values():
        for method in ("post", "put", "patch"):
            if method in path_item:
                names = {p["name"] for p in path_item[method]["parameters"]}
                assert {"fieldValidation", "fieldManager", "dryRun"} <= names


@pytest.mark.parametrize(("group", "plural", "collection", "item"), [
    pytest.param("", "configmaps", "/api/v1/namespaces/{namespace}/configmaps",
                 "/api/v1/namespaces/{namespace}/configmaps/{name}", id="core-namespaced"),
    pytest.param("", "namespaces", "/api/v1/namespaces", "/api/v1/namespaces/{name}",
                 id="core-cluster"),
    pytest.param("apps", "deployments", "/apis/apps/v1/namespaces/{namespace}/deployments",
                 "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                 id="group-namespaced"),
    pytest.param("apiextensions.k8s.io", "customresourcedefinitions",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                 id="group-cluster"),
    pytest.param("samplecontroller.k8s.io", "foos",
                 "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/{namespace}/foos",
                 "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/{namespace}/foos/{name}",
                 id="custom"),
])
def test_paths_take_the_namespaced_or_cluster_form(group: str, plural: str, collection: str,
                                                   item: str) -> None:
    [resource] = [r for r in ALL if (r.group, r.plural) == (group, plural)]
    paths = _document(resource)["paths"]
    assert {"get", "post"} <= set(paths[collection])
    assert {"get", "put", "patch", "delete"} <= set(paths[item])
    for operation in (*paths[collection].values(), *paths[item].values()):
        if isinstance(operation, dict):
            assert operation["x-kubernetes-group-version-kind"] == _gvk(resource)


def test_namespaced_paths_declare_their_path_parameters() -> None:
    paths = openapi_v3_document("", "v1", ALL)["paths"]
    item = paths["/api/v1/namespaces/{namespace}/configmaps/{name}"]
    assert {(p["name"], p["in"], p["required"]) for p in item["parameters"]} == {
        ("name", "path", True), ("namespace", "path", True)}


def test_operations_follow_the_verbs_the_resource_supports() -> None:
    paths = openapi_v3_document("", "v1", ALL)["paths"]
    assert "delete" not in paths["/api/v1/namespaces"]  # no deletecollection for namespaces
    assert "delete" in paths["/api/v1/namespaces/{namespace}/configmaps"]
    actions = {op["x-kubernetes-action"]
               for op in paths["/api/v1/namespaces/{namespace}/configmaps"].values()
               if isinstance(op, dict)}
    assert actions == {"list", "post", "deletecollection"}


def test_operation_ids_are_unique_in_a_document() -> None:
    for group, version in {(r.group, r.version) for r in ALL}:
        paths = openapi_v3_document(group, version, ALL)["paths"]
        ids = [op["operationId"] for item in paths.values() for op in item.values()
               if isinstance(op, dict)]
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("group", "plural", "expected"), [
    pytest.param("", "configmaps", "io.k8s.api.core.v1.ConfigMap", id="core"),
    pytest.param("apps", "deployments", "io.k8s.api.apps.v1.Deployment", id="apps"),
    pytest.param("rbac.authorization.k8s.io", "roles", "io.k8s.api.rbac.v1.Role", id="rbac"),
    pytest.param("coordination.k8s.io", "leases", "io.k8s.api.coordination.v1.Lease", id="lease"),
    pytest.param("autoscaling", "horizontalpodautoscalers",
                 "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", id="hpa"),
    pytest.param("apiextensions.k8s.io", "customresourcedefinitions",
                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
                 id="crd"),
    pytest.param("samplecontroller.k8s.io", "foos", "io.k8s.samplecontroller.v1alpha1.Foo",
                 id="custom"),
])
def test_schemas_are_named_like_the_real_servers(group: str, plural: str, expected: str) -> None:
    [resource] = [r for r in ALL if (r.group, r.plural) == (group, plural)]
    schemas = _document(resource)["components"]["schemas"]
    assert schema_name(resource) == expected
    assert schemas[expected]["x-kubernetes-group-version-kind"] == [_gvk(resource)]
    list_schema = schemas[f"{expected}List"]
    assert list_schema["x-kubernetes-group-version-kind"] == [
        {**_gvk(resource), "kind": resource.list_kind}]


def test_a_custom_resource_schema_is_the_crds_with_the_envelope_added() -> None:
    schema = _document(FOO)["components"]["schemas"]["io.k8s.samplecontroller.v1alpha1.Foo"]
    assert schema["properties"]["spec"]["properties"]["replicas"] == {
        "type": "integer", "minimum": 1}
    assert schema["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert schema["properties"]["kind"]["type"] == "string"
    assert schema["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert "apiVersion" not in FOO_SCHEMA["properties"]  # the CRD's own schema is untouched


def test_a_built_in_schema_accepts_any_fields() -> None:
    schema = openapi_v3_document("", "v1", ALL)["components"]["schemas"][
        "io.k8s.api.core.v1.ConfigMap"]
    assert schema["type"] == "object"
    assert schema["x-kubernetes-preserve-unknown-fields"] is True


@pytest.mark.parametrize(("group", "version"), sorted({(r.group, r.version) for r in ALL}))
def test_every_reference_resolves_within_its_document(group: str, version: str) -> None:
    document = openapi_v3_document(group, version, ALL)
    prefix = "#/components/schemas/"
    for ref in _refs(document):
        assert ref.startswith(prefix)
        assert ref.removeprefix(prefix) in document["components"]["schemas"]


def test_kubectl_can_follow_the_index_to_each_document_over_http() -> None:
    # A private loop, leaving the current one alone: looptime 0.9's plugin sets one per session
    # and never closes it, so replacing it (as asyncio.run does) warns of an unclosed loop.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(_follow_the_index_over_http())


async def _follow_the_index_over_http() -> None:
    async def index(request: web.Request) -> web.Response:
        return web.json_response(openapi_v3_index(ALL))

    async def document(request: web.Request) -> web.Response:
        parts = request.match_info["tail"].split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        return web.json_response(openapi_v3_document(group, version, ALL))

    app = web.Application()
    app.router.add_get("/openapi/v3", index)
    app.router.add_get("/openapi/v3/{tail:.+}", document)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/openapi/v3")
        served_index = await response.json()
        for entry in served_index["paths"].values():
            url = entry["serverRelativeURL"]
            response = await client.get(url)
            assert response.status == 200
            served = await response.json()
            assert url.endswith(f"?hash={document_hash(served)}")
            assert served["openapi"].startswith("3.0")
