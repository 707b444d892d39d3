"""CustomResourceDefinitions through the official ``kubernetes`` client: serving, conditions,
schema validation, defaulting, pruning, scopes, versions, deletion, and custom resources'
generation and status."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client import ApiException, ApiextensionsV1Api, CustomObjectsApi

from kopf_informers.testing.apiserver import EmbeddedApiServer

Wait = Callable[..., Any]
GROUP = "example.com"

GADGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "string", "enum": ["small", "large"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "code": {"type": "string", "pattern": "^[A-Z]+$"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "settings": {
                    "type": "object", "default": {},
                    "properties": {
                        "mode": {"type": "string", "default": "auto"},
                        "level": {"type": "integer"},
                    },
                },
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def crd_body(
    plural: str, kind: str, *, scope: str = "Namespaced", schema: dict[str, Any] | None = None,
    versions: tuple[str, ...] = ("v1",), status: bool = True,
) -> dict[str, Any]:
    schema = schema if schema is not None else GADGET_SCHEMA
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                      "listKind": f"{kind}List", "shortNames": [plural[:2]]},
            "versions": [{
                "name": version, "served": True, "storage": version == versions[0],
                "schema": {"openAPIV3Schema": copy.deepcopy(schema)},
                **({"subresources": {"status": {}}} if status else {}),
            } for version in versions],
        },
    }


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": name},
            "spec": spec}


@pytest.fixture
def gadgets(apiextensions_v1: ApiextensionsV1Api) -> dict[str, Any]:
    """``gadgets.example.com/v1``: namespaced, with a status subresource and a rich schema."""
    body = crd_body("gadgets", "Gadget")
    apiextensions_v1.create_custom_resource_definition(body)
    return body


def create_gadget(custom_objects: CustomObjectsApi, body: dict[str, Any], **kwargs: Any,
                  ) -> dict[str, Any]:
    result: dict[str, Any] = custom_objects.create_namespaced_custom_object(
        GROUP, "v1", "default", "gadgets", body, **kwargs)
    return result


def get_gadget(custom_objects: CustomObjectsApi, name: str) -> dict[str, Any]:
    result: dict[str, Any] = custom_objects.get_namespaced_custom_object(
        GROUP, "v1", "default", "gadgets", name)
    return result


# -- serving and conditions ---------------------------------------------------------------------


def test_a_new_crd_serves_its_resource_right_away(
    apiextensions_v1: ApiextensionsV1Api, custom_objects: CustomObjectsApi,
    raw: Callable[..., Any],
) -> None:
    apiextensions_v1.create_custom_resource_definition(crd_body("gadgets", "Gadget"))
    created = create_gadget(custom_objects, gadget("first", size="small"))  # no wait at all
    assert created["metadata"]["uid"]
    discovery = raw("GET", f"/apis/{GROUP}/v1").body
    entries = {r["name"]: r for r in discovery["resources"]}
    assert entries["gadgets"]["kind"] == "Gadget"
    assert entries["gadgets"]["namespaced"] is True
    assert {"list", "watch", "patch"} <= set(entries["gadgets"]["verbs"])
    assert entries["gadgets"]["shortNames"] == ["ga"]
    assert "gadgets/status" in entries


def test_a_new_crd_gets_the_names_accepted_and_established_conditions(
    apiextensions_v1: ApiextensionsV1Api, wait_until: Wait,
) -> None:
    body = crd_body("gadgets", "Gadget", versions=("v1", "v1beta1"))
    apiextensions_v1.create_custom_resource_definition(body)

    def conditions() -> dict[str, Any] | None:
        crd = apiextensions_v1.read_custom_resource_definition("gadgets.example.com")
        found = {c.type: c for c in (crd.status.conditions if crd.status else None) or ()}
        return found if {"Established", "NamesAccepted"} <= set(found) else None

    found = wait_until(conditions)
    assert found["Established"].status == "True"
    assert found["NamesAccepted"].status == "True"
    assert found["NamesAccepted"].reason == "NoConflicts"
    crd = apiextensions_v1.read_custom_resource_definition("gadgets.example.com")
    assert crd.status.accepted_names.plural == "gadgets"
    assert crd.status.accepted_names.kind == "Gadget"
    assert crd.status.stored_versions == ["v1"]
    assert crd.metadata.finalizers == ["customresourcecleanup.apiextensions.k8s.io"]


def test_an_invalid_crd_is_422(apiextensions_v1: ApiextensionsV1Api) -> None:
    body = crd_body("gadgets", "Gadget")
    body["metadata"]["name"] = "gizmos.example.com"  # must be <plural>.<group>
    with pytest.raises(ApiException) as e:
        apiextensions_v1.create_custom_resource_definition(body)
    assert e.value.status == 422
    assert "metadata.name" in [c["field"] for c in status_of(e.value)["details"]["causes"]]


# -- schema validation --------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "cause"), [
    pytest.param({"size": "small", "replicas": "many"}, {
        "reason": "FieldValueTypeInvalid", "field": "spec.replicas",
        "message": 'Invalid value: "string": spec.replicas in body must be of type integer: '
                   '"string"',
    }, id="wrong-type"),
    pytest.param({"replicas": 1}, {
        "reason": "FieldValueRequired", "field": "spec.size", "message": "Required value",
    }, id="required"),
    pytest.param({"size": "huge"}, {
        "reason": "FieldValueNotSupported", "field": "spec.size",
        "message": 'Unsupported value: "huge": supported values: "small", "large"',
    }, id="enum"),
    pytest.param({"size": "small", "replicas": 20}, {
        "reason": "FieldValueInvalid", "field": "spec.replicas",
        "message": "Invalid value: 20: spec.replicas in body should be less than or equal to 10",
    }, id="maximum"),
    pytest.param({"size": "small", "code": "abc"}, {
        "reason": "FieldValueInvalid", "field": "spec.code",
        "message": "Invalid value: \"abc\": spec.code in body should match '^[A-Z]+$'",
    }, id="pattern"),
    pytest.param({"size": "small", "tags": ["a", 1]}, {
        "reason": "FieldValueTypeInvalid", "field": "spec.tags[1]",
        "message": 'Invalid value: "integer": spec.tags[1] in body must be of type string: '
                   '"integer"',
    }, id="array-item"),
])
def test_schema_violations_are_422_with_the_field_path_and_the_real_message(
    custom_objects: CustomObjectsApi, gadgets: Any, spec: dict[str, Any], cause: dict[str, str],
) -> None:
    with pytest.raises(ApiException) as e:
        create_gadget(custom_objects, gadget("bad", **spec))
    status = status_of(e.value)
    assert e.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["details"]["name"] == "bad"
    assert status["details"]["group"] == GROUP
    assert status["details"]["kind"] == "Gadget"
    assert status["details"]["causes"] == [cause]
    assert status["message"] == (
        f'Gadget.example.com "bad" is invalid: {cause["field"]}: {cause["message"]}'
    )


def test_several_schema_violations_are_listed_together(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    with pytest.raises(ApiException) as e:
        create_gadget(custom_objects, gadget("bad", replicas=-1, code="x"))
    status = status_of(e.value)
    assert sorted(c["field"] for c in status["details"]["causes"]) == [
        "spec.code", "spec.replicas", "spec.size",
    ]
    assert status["message"].startswith('Gadget.example.com "bad" is invalid: [')


def test_an_update_is_validated_as_a_create_is(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    create_gadget(custom_objects, gadget("valid", size="small"))
    with pytest.raises(ApiException) as e:
        custom_objects.patch_namespaced_custom_object(
            GROUP, "v1", "default", "gadgets", "valid", {"spec": {"size": "medium"}})
    assert e.value.status == 422
    assert get_gadget(custom_objects, "valid")["spec"]["size"] == "small"


# -- defaulting and pruning ---------------------------------------------------------------------


def test_defaults_from_the_schema_are_filled_in_nested_objects_too(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    created = create_gadget(custom_objects, gadget("defaulted", size="small"))
    assert created["spec"] == {"size": "small", "replicas": 1, "settings": {"mode": "auto"}}
    explicit = create_gadget(custom_objects, gadget(
        "explicit", size="large", replicas=3, settings={"level": 2}))
    assert explicit["spec"] == {"size": "large", "replicas": 3,
                                "settings": {"mode": "auto", "level": 2}}


def test_unknown_fields_are_pruned_with_a_warning_by_default(
    custom_objects: CustomObjectsApi, gadgets: Any, embedded_apiserver: EmbeddedApiServer,
) -> None:
    body = gadget("pruned", size="small", bogus=1)
    body["extra"] = {"x": 1}
    created, code, headers = custom_objects.create_namespaced_custom_object_with_http_info(
        GROUP, "v1", "default", "gadgets", body)
    assert code == 201
    assert "bogus" not in created["spec"]
    assert "extra" not in created
    assert "bogus" not in get_gadget(custom_objects, "pruned")["spec"]
    # The official client asks for no particular field validation: the server's default is Warn.
    posts = embedded_apiserver.journal.filter(method="POST", resource="gadgets")
    assert "fieldValidation" not in posts[-1].query
    assert headers["Warning"] == (
        '299 - "unknown field \\"extra\\"", 299 - "unknown field \\"spec.bogus\\""'
    )


def test_strict_field_validation_rejects_unknown_fields_with_400(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    body = gadget("strict", size="small", bogus=1)
    with pytest.raises(ApiException) as e:
        create_gadget(custom_objects, body, field_validation="Strict")
    assert e.value.status == 400
    assert status_of(e.value)["reason"] == "BadRequest"
    assert status_of(e.value)["message"] == 'strict decoding error: unknown field "spec.bogus"'
    with pytest.raises(ApiException):
        get_gadget(custom_objects, "strict")


def test_ignore_field_validation_prunes_unknown_fields_silently(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    created, code, headers = custom_objects.create_namespaced_custom_object_with_http_info(
        GROUP, "v1", "default", "gadgets", gadget("quiet", size="small", bogus=1),
        field_validation="Ignore")
    assert code == 201
    assert "bogus" not in created["spec"]
    assert "Warning" not in headers


def test_preserve_unknown_fields_keeps_what_the_schema_does_not_name(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    free = {"anything": {"goes": [1, "two", {"three": 3}]}, "flag": True}
    created = create_gadget(custom_objects, gadget("free", size="small", free=free),
                            field_validation="Strict")
    assert created["spec"]["free"] == free
    assert get_gadget(custom_objects, "free")["spec"]["free"] == free


# -- scopes and versions ------------------------------------------------------------------------


def test_a_cluster_scoped_custom_resource_lives_outside_namespaces(
    apiextensions_v1: ApiextensionsV1Api, custom_objects: CustomObjectsApi,
    raw: Callable[..., Any],
) -> None:
    apiextensions_v1.create_custom_resource_definition(
        crd_body("realms", "Realm", scope="Cluster", schema={
            "type": "object", "properties": {"spec": {"type": "object", "properties": {
                "owner": {"type": "string"}}}},
        }))
    created = custom_objects.create_cluster_custom_object(GROUP, "v1", "realms", {
        "apiVersion": f"{GROUP}/v1", "kind": "Realm", "metadata": {"name": "north"},
        "spec": {"owner": "me"},
    })
    assert "namespace" not in created["metadata"]
    listed = custom_objects.list_cluster_custom_object(GROUP, "v1", "realms")
    assert [o["metadata"]["name"] for o in listed["items"]] == ["north"]
    assert raw("GET", f"/apis/{GROUP}/v1/namespaces/default/realms/north").status == 404
    discovery = raw("GET", f"/apis/{GROUP}/v1").body
    assert {r["name"]: r["namespaced"] for r in discovery["resources"]}["realms"] is False


def test_a_crd_with_two_versions_serves_the_same_objects_in_both(
    apiextensions_v1: ApiextensionsV1Api, custom_objects: CustomObjectsApi,
    dynamic_client: Any, raw: Callable[..., Any],
) -> None:
    apiextensions_v1.create_custom_resource_definition(
        crd_body("gadgets", "Gadget", versions=("v1", "v1beta1")))
    custom_objects.create_namespaced_custom_object(GROUP, "v1beta1", "default", "gadgets", {
        "apiVersion": f"{GROUP}/v1beta1", "kind": "Gadget", "metadata": {"name": "old"},
        "spec": {"size": "small"},
    })
    create_gadget(custom_objects, gadget("new", size="large"))
    for version in ("v1", "v1beta1"):
        api = dynamic_client.resources.get(api_version=f"{GROUP}/{version}", kind="Gadget")
        listed = api.get(namespace="default")
        assert listed.apiVersion == f"{GROUP}/{version}"
        assert sorted(item.metadata.name for item in listed.items) == ["new", "old"]
        assert {item.apiVersion for item in listed.items} == {f"{GROUP}/{version}"}
    group = raw("GET", f"/apis/{GROUP}").body
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    assert group["preferredVersion"]["version"] == "v1"


# -- deletion -----------------------------------------------------------------------------------


def test_deleting_a_crd_deletes_its_objects_and_stops_serving_the_resource(
    apiextensions_v1: ApiextensionsV1Api, custom_objects: CustomObjectsApi,
    raw: Callable[..., Any], wait_until: Wait, gadgets: Any,
) -> None:
    for name in ("a", "b"):
        create_gadget(custom_objects, gadget(name, size="small"))
    apiextensions_v1.delete_custom_resource_definition("gadgets.example.com")

    def crd_gone() -> bool:
        return raw("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                          "gadgets.example.com").status == 404

    wait_until(crd_gone)
    response = raw("GET", f"/apis/{GROUP}/v1/namespaces/default/gadgets")
    assert response.status == 404
    assert response.body["message"] == "the server could not find the requested resource"
    assert raw("GET", f"/apis/{GROUP}/v1").status == 404
    # Served again, the resource starts empty: the objects were deleted, not hidden.
    apiextensions_v1.create_custom_resource_definition(crd_body("gadgets", "Gadget"))
    listed = custom_objects.list_namespaced_custom_object(GROUP, "v1", "default", "gadgets")
    assert listed["items"] == []


def test_a_crd_waits_for_finalizers_of_its_objects(
    apiextensions_v1: ApiextensionsV1Api, custom_objects: CustomObjectsApi,
    raw: Callable[..., Any], wait_until: Wait, gadgets: Any,
) -> None:
    held = gadget("held", size="small")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    create_gadget(custom_objects, held)
    apiextensions_v1.delete_custom_resource_definition("gadgets.example.com")
    wait_until(lambda: get_gadget(custom_objects, "held")["metadata"].get("deletionTimestamp"))
    crd = apiextensions_v1.read_custom_resource_definition("gadgets.example.com")
    assert crd.metadata.deletion_timestamp is not None
    custom_objects.patch_namespaced_custom_object(
        GROUP, "v1", "default", "gadgets", "held", {"metadata": {"finalizers": None}})
    wait_until(lambda: raw("GET", f"/apis/{GROUP}/v1/namespaces/default/gadgets").status == 404)


# -- generation and status of custom resources --------------------------------------------------


def test_the_generation_of_a_custom_resource_follows_its_spec_only(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    created = create_gadget(custom_objects, gadget("gen", size="small"))
    assert created["metadata"]["generation"] == 1
    patch = custom_objects.patch_namespaced_custom_object
    labelled = patch(GROUP, "v1", "default", "gadgets", "gen",
                     {"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}})
    assert labelled["metadata"]["generation"] == 1
    status = custom_objects.patch_namespaced_custom_object_status(
        GROUP, "v1", "default", "gadgets", "gen", {"status": {"phase": "Ready"}})
    assert status["metadata"]["generation"] == 1
    changed = patch(GROUP, "v1", "default", "gadgets", "gen", {"spec": {"size": "large"}})
    assert changed["metadata"]["generation"] == 2
    same = patch(GROUP, "v1", "default", "gadgets", "gen", {"spec": {"size": "large"}})
    assert same["metadata"]["generation"] == 2
    assert same["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]


def test_without_a_status_subresource_a_status_change_bumps_the_generation(
    apiextensions_v1: ApiextensionsV1Api, custom_objects: CustomObjectsApi,
) -> None:
    apiextensions_v1.create_custom_resource_definition(
        crd_body("gadgets", "Gadget", status=False))
    create_gadget(custom_objects, gadget("plain", size="small"))
    patched = custom_objects.patch_namespaced_custom_object(
        GROUP, "v1", "default", "gadgets", "plain", {"status": {"phase": "Ready"}})
    assert patched["status"] == {"phase": "Ready"}  # stored with the main resource
    assert patched["metadata"]["generation"] == 2
    labelled = custom_objects.patch_namespaced_custom_object(
        GROUP, "v1", "default", "gadgets", "plain", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 2


def test_the_status_subresource_of_a_custom_resource_is_written_separately(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    created = create_gadget(custom_objects, gadget("st", size="small"))
    body = copy.deepcopy(created)
    body["status"] = {"phase": "Running"}
    body["spec"]["size"] = "large"
    updated = custom_objects.replace_namespaced_custom_object_status(
        GROUP, "v1", "default", "gadgets", "st", body)
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"]["size"] == "small"
    read = custom_objects.get_namespaced_custom_object_status(
        GROUP, "v1", "default", "gadgets", "st")
    assert read["status"] == {"phase": "Running"}
    stale = copy.deepcopy(body)  # still carries the resourceVersion before the status write
    with pytest.raises(ApiException) as e:
        custom_objects.replace_namespaced_custom_object_status(
            GROUP, "v1", "default", "gadgets", "st", stale)
    assert e.value.status == 409
    main = copy.deepcopy(updated)
    main["status"] = {"phase": "Ignored"}
    main["spec"]["size"] = "large"
    replaced = custom_objects.replace_namespaced_custom_object(
        GROUP, "v1", "default", "gadgets", "st", main)
    assert replaced["status"] == {"phase": "Running"}
    assert replaced["spec"]["size"] == "large"


def test_the_status_is_validated_against_the_schema_too(
    custom_objects: CustomObjectsApi, gadgets: Any,
) -> None:
    create_gadget(custom_objects, gadget("badstatus", size="small"))
    with pytest.raises(ApiException) as e:
        custom_objects.patch_namespaced_custom_object_status(
            GROUP, "v1", "default", "gadgets", "badstatus", {"status": {"phase": 3}})
    assert e.value.status == 422
    assert [c["field"] for c in status_of(e.value)["details"]["causes"]] == ["status.phase"]
