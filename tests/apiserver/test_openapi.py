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
import urllib3
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.apiserver.admission import _builtin_schemas
from kopf_informers.testing.apiserver.endpoints._openapi import (
    document_hash,
    group_version_path,
    openapi_v3_document,
    openapi_v3_index,
    schema_name,
)
from kopf_informers.testing.apiserver.endpoints._openapi_proto import encode_document
from kopf_informers.testing.apiserver.endpoints._openapi_v2 import openapi_v2_document
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
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
# The reviews are only created: no PATCH tags them, on a real server either (kubectl then falls
# back to OpenAPI v2 to validate them).
PATCHABLE = [r for r in ALL if "patch" in r.verbs]


@pytest.fixture
def without_schemas(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if ``kubernetes-validate`` were not installed."""
    monkeypatch.setattr(_builtin_schemas, "_load", lambda: None)
    _builtin_schemas.definitions.cache_clear()
    yield
    _builtin_schemas.definitions.cache_clear()


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
            if key == "$ref" and isinstance(item, str):  # not JSONSchemaProps' "$ref" property
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
    # Besides the kinds it refers to, of other groups (a StatefulSet's PersistentVolumeClaims,
    # meta's Status; DeleteOptions, which names every group), as kube-apiserver's documents do.
    kinds = {gvk["kind"] for s in document["components"]["schemas"].values()
             for gvk in s.get("x-kubernetes-group-version-kind", ())
             if gvk["group"] == "apps" and gvk["kind"] != "DeleteOptions"}
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
def test_kubectl_builds_strategic_merge_patches_of_built_ins_from_their_schemas(
        resource: ResourceInfo) -> None:
    for patch in _patch_operations(_document(resource), resource):
        content = patch["requestBody"]["content"]
        assert ("application/strategic-merge-patch+json" in content) is not resource.custom
        assert "application/merge-patch+json" in content
        assert "application/apply-patch+yaml" in content


def test_without_real_schemas_kubectl_builds_apply_patches_from_its_own_types(
        without_schemas: None) -> None:
    resource = next(r for r in ALL if r.kind == "Deployment")
    for patch in _patch_operations(_document(resource), resource):
        assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]


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


def test_a_built_in_schema_is_the_real_servers() -> None:
    schemas = openapi_v3_document("apps", "v1", ALL)["components"]["schemas"]
    spec = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]
    assert spec["replicas"]["type"] == "integer"
    assert spec["replicas"]["format"] == "int32"
    assert spec["template"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"}]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "oneOf": [{"type": "string"}, {"type": "integer"}], "x-kubernetes-int-or-string": True}
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert "enum" not in deployment["properties"]["kind"]


def test_without_real_schemas_a_built_in_schema_accepts_any_fields(
        without_schemas: None) -> None:
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


# -- /openapi/v2 --------------------------------------------------------------------------------


def test_the_v2_document_holds_every_group_versions_paths_and_schemas() -> None:
    document = openapi_v2_document(ALL)
    assert document["swagger"] == "2.0"
    for resource in ALL:
        assert schema_name(resource) in document["definitions"]
    prefix = "#/definitions/"
    for ref in _refs(document):
        assert ref.startswith(prefix)
        assert ref.removeprefix(prefix) in document["definitions"]


def test_the_v2_document_is_swagger_2_not_openapi_3() -> None:
    document = openapi_v2_document(ALL)
    assert not list(_keywords(document, "oneOf"))  # JSONSchemaProps has a property "oneOf"
    assert not list(_keywords(document, "requestBody"))
    assert "#/components/" not in json.dumps(document)
    definitions = document["definitions"]
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": "string", "format": "int-or-string"}
    template = definitions["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]
    assert template["$ref"] == "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"


def _keywords(value: Any, keyword: str) -> Iterator[Any]:
    """The values of ``keyword`` used as a keyword (a list or an object of schemas)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == keyword and (isinstance(item, list) or "content" in item):
                yield item
            else:
                yield from _keywords(item, keyword)
    elif isinstance(value, list):
        for item in value:
            yield from _keywords(item, keyword)


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.name) for r in PATCHABLE])
def test_kubectl_finds_the_field_validation_parameter_in_v2_too(resource: ResourceInfo) -> None:
    paths = openapi_v2_document(ALL)["paths"]
    patches = [item["patch"] for item in paths.values()
               if item.get("patch", {}).get("x-kubernetes-group-version-kind") == _gvk(resource)]
    assert patches
    for patch in patches:
        query = {p["name"]: p for p in patch["parameters"] if p["in"] == "query"}
        assert query["fieldValidation"]["type"] == "string"
        [body] = [p for p in patch["parameters"] if p["in"] == "body"]
        assert body["schema"] == {"$ref": f"#/definitions/{META}.Patch"}
        assert ("application/strategic-merge-patch+json" in patch["consumes"]) is not (
            resource.custom)


def test_the_v2_protobuf_is_gnostics_document_message() -> None:
    encoded = encode_document({"swagger": "2.0", "info": {"title": "T", "version": "v"},
                               "definitions": {"X": {"type": "string", "x-k": [1]}}})
    assert encoded == (
        b"\n\x032.0"  # 1: swagger
        b"\x12\x06\n\x01T\x12\x01v"  # 2: info {1: title, 2: version}
        # 9: definitions {1: NamedSchema {1: name, 2: Schema {22: type {1: "string"},
        #    31: NamedAny {1: "x-k", 2: Any {2: yaml "[1]"}}}}}
        b"J!\n\x1f\n\x01X\x12\x1a\xb2\x01\x08\n\x06string"
        b"\xfa\x01\x0c\n\x03x-k\x12\x05\x12\x03[1]"
    )


def test_the_v2_document_is_served_as_protobuf_to_whom_asks_and_as_json_otherwise(
        embedded_apiserver: EmbeddedApiServer) -> None:
    for accept, content_type in [
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
         "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        ("application/json", "application/json"),
    ]:
        response = urllib3.request("GET", f"{embedded_apiserver.url}/openapi/v2",
                                   headers={"Accept": accept})
        assert response.status == 200
        assert response.headers["Content-Type"] == content_type
    assert json.loads(response.data)["swagger"] == "2.0"
