"""Built-in objects are decoded into their kinds' real types, as kube-apiserver decodes them.

Unknown fields are dropped and reported as strict decoding errors, which ``fieldValidation``
turns into a 400 (Strict), a warning (Warn, the default) or nothing (Ignore); a repeated JSON
key is one too; a value of the wrong type is refused whatever ``fieldValidation`` says, with
encoding/json's words. The expected texts are kube-apiserver 1.32's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import urllib3

from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.apiserver.admission import _builtin_schemas
from kopf_informers.testing.apiserver.admission._typed_decoding import TypeMismatch, decode_typed
from kopf_informers.testing.apiserver.apimachinery._decoding import duplicate_fields
from kopf_informers.testing.apiserver.endpoints._http import VERSION_INFO
from kopf_informers.testing.apiserver.registry._builtins import BUILTIN_RESOURCES

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10))
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
            **spec,
        },
    }


def send(server: EmbeddedApiServer, method: str, path: str, body: Any, *,
         content_type: str = "application/json") -> tuple[int, Any, str | None]:
    """One request, its body sent as it is if bytes; returns status, decoded body, Warning."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = HTTP.request(method, server.url + path, body=data,
                            headers={"Content-Type": content_type, "Accept": "application/json"})
    return response.status, json.loads(response.data), response.headers.get("Warning")


# -- the schemas --------------------------------------------------------------------------------


def test_the_schemas_are_of_the_version_the_server_claims() -> None:
    assert VERSION_INFO["minor"] == str(_builtin_schemas.KUBERNETES_MINOR)


def test_every_built_in_kind_has_its_real_type() -> None:
    for resource in BUILTIN_RESOURCES:
        definition = resource.strategy.definition
        assert definition is not None, resource.name
        node = _builtin_schemas.compiled(definition)
        assert node is not None, resource.name
        assert node.shape == "struct", resource.name
        assert {"apiVersion", "kind", "metadata"} <= set(node.fields), resource.name


def test_unknown_fields_are_dropped_with_their_paths() -> None:
    body = deployment()
    body["spec"]["replicaz"] = 2
    body["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    body["metadata"]["colour"] = "red"
    decoded, unknown = decode_typed(body, DEPLOYMENT)
    assert unknown == ["metadata.colour", "spec.replicaz",
                       "spec.template.spec.containers[0].bogus"]
    assert decoded == deployment()


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"replicas": "two"}, "json: cannot unmarshal string into Go struct field "
                 "DeploymentSpec.spec.replicas of type int32", id="string-for-int32"),
    pytest.param({"replicas": 1.5}, "json: cannot unmarshal number 1.5 into Go struct field "
                 "DeploymentSpec.spec.replicas of type int32", id="fraction-for-int32"),
    pytest.param({"replicas": 2**31}, "json: cannot unmarshal number 2147483648 into Go struct "
                 "field DeploymentSpec.spec.replicas of type int32", id="int32-overflow"),
    pytest.param({"paused": "yes"}, "json: cannot unmarshal string into Go struct field "
                 "DeploymentSpec.spec.paused of type bool", id="string-for-bool"),
    pytest.param({"selector": []}, "json: cannot unmarshal array into Go struct field "
                 "DeploymentSpec.spec.selector of type v1.LabelSelector", id="array-for-struct"),
    pytest.param({"template": {"spec": {"containers": [{"name": "a", "env": [
                     {"name": "X", "value": 1}]}]}}},
                 "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec."
                 "containers.env.value of type string", id="no-indices-in-gos-path"),
    pytest.param({"template": {"spec": {"containers": {"name": "a"}}}},
                 "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec."
                 "containers of type []v1.Container", id="object-for-slice"),
    pytest.param({"template": {"metadata": {"labels": {"a": True}}}},
                 "json: cannot unmarshal bool into Go struct field ObjectMeta.spec.template."
                 "metadata.labels of type string", id="map-value"),
])
def test_a_value_of_the_wrong_type_is_refused_with_gos_words(
        spec: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeMismatch) as e:
        decode_typed(deployment(**spec), DEPLOYMENT)
    assert str(e.value) == message


@pytest.mark.parametrize("value", [
    pytest.param({"maxSurge": 1, "maxUnavailable": "25%"}, id="int-or-string"),
    pytest.param(None, id="null"),
])
def test_values_of_the_types_a_field_takes_pass(value: Any) -> None:
    body = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": value})
    assert decode_typed(body, DEPLOYMENT) == (body, [])


def test_free_form_fields_keep_whatever_they_hold() -> None:
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
                "revision": 1, "data": {"anything": [1, {"goes": True}]}}
    assert decode_typed(revision, "io.k8s.api.apps.v1.ControllerRevision") == (revision, [])


def test_repeated_json_keys_are_found_with_their_paths_in_order() -> None:
    raw = b'{"a": 1, "spec": {"x": 1, "x": 2, "l": [{"y": 1, "y": 2}]}, "a": 3}'
    assert duplicate_fields(raw) == ["spec.x", "spec.l[0].y", "a"]
    assert duplicate_fields(b'{"a": {"b": 1}, "c": [{"b": 2}]}') == []


@pytest.mark.parametrize(("raw", "repeated"), [
    pytest.param(b'{"a":1,"b":{"c":2}}', [], id="compact-none"),
    pytest.param(b'{"a":1,"a":2}', ["a"], id="compact-repeated"),
    pytest.param(b'{"t":"10:00:00","a":1,"a":2}', ["a"], id="colons-in-strings"),
    pytest.param(b'{"t":"10:00:00","a":{"b":1}}', [], id="colons-in-strings-none"),
    pytest.param(b'{"a:b":1,"a:b":2}', ["a:b"], id="colons-in-keys"),
    pytest.param(b'{"a":"x:y","a":"z"}', ["a"], id="a-dropped-value-with-a-colon"),
    pytest.param(b'{"a":"\\u003a","a":"::"}', ["a"], id="escaped-colons"),
    pytest.param(b'{"a":"\\u003a:", "b":1}', [], id="escaped-colons-none"),
    pytest.param(b'{"x": {"a": 1, "a": {"c": ":"}}}', ["x.a"], id="spaced-nested"),
    pytest.param(b'[{"a":1},{"a":1,"a":2}]', ["[1].a"], id="in-a-list"),
    pytest.param(b'{"a":{},"a":{}}', ["a"], id="empty-objects"),
])
def test_repeated_json_keys_are_found_however_the_body_is_written(
        raw: bytes, repeated: list[str]) -> None:
    assert duplicate_fields(raw) == repeated
    assert duplicate_fields(raw, orjson.loads(raw)) == repeated


# -- over HTTP ----------------------------------------------------------------------------------


def bad_deployment() -> dict[str, Any]:
    body = deployment("typo")
    body["spec"]["replicaz"] = 2
    body["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    return body


def test_strict_refuses_unknown_fields_of_built_ins_with_400(
        embedded_apiserver: EmbeddedApiServer) -> None:
    status, body, _ = send(embedded_apiserver, "POST", f"{DEPLOYMENTS}?fieldValidation=Strict",
                           bad_deployment())
    assert status == 400
    assert body["reason"] == "BadRequest"
    assert body["message"] == (
        'strict decoding error: unknown field "spec.replicaz", '
        'unknown field "spec.template.spec.containers[0].bogus"'
    )
    status, _, _ = send(embedded_apiserver, "GET", f"{DEPLOYMENTS}/typo", None)
    assert status == 404


def test_warn_drops_unknown_fields_of_built_ins_with_warnings(
        embedded_apiserver: EmbeddedApiServer) -> None:
    status, body, warning = send(embedded_apiserver, "POST", DEPLOYMENTS, bad_deployment())
    assert status == 201
    assert "replicaz" not in body["spec"]
    assert "bogus" not in body["spec"]["template"]["spec"]["containers"][0]
    assert warning == ('299 - "unknown field \\"spec.replicaz\\"", 299 - "unknown field '
                       '\\"spec.template.spec.containers[0].bogus\\""')


def test_ignore_drops_unknown_fields_of_built_ins_silently(
        embedded_apiserver: EmbeddedApiServer) -> None:
    status, body, warning = send(embedded_apiserver, "POST", f"{DEPLOYMENTS}?fieldValidation="
                                 "Ignore", bad_deployment())
    assert status == 201
    assert "replicaz" not in body["spec"]
    assert warning is None


def test_a_create_of_the_wrong_type_is_400_whatever_the_field_validation(
        embedded_apiserver: EmbeddedApiServer) -> None:
    for validation in ("Strict", "Warn", "Ignore"):
        status, body, _ = send(embedded_apiserver, "POST",
                               f"{DEPLOYMENTS}?fieldValidation={validation}",
                               deployment(replicas="two"))
        assert status == 400
        assert body["reason"] == "BadRequest"
        assert body["message"] == (
            'Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
            "unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        )


def test_an_update_of_the_wrong_type_is_400(embedded_apiserver: EmbeddedApiServer) -> None:
    status, created, _ = send(embedded_apiserver, "POST", DEPLOYMENTS, deployment())
    assert status == 201
    created["spec"]["replicas"] = "two"
    status, body, _ = send(embedded_apiserver, "PUT", f"{DEPLOYMENTS}/web", created)
    assert status == 400
    assert body["message"].startswith('Deployment in version "v1" cannot be handled as a '
                                      "Deployment: json: cannot unmarshal string")


@pytest.mark.parametrize("content_type", [
    "application/merge-patch+json", "application/strategic-merge-patch+json",
])
def test_a_patch_to_the_wrong_type_is_422_on_the_patch(
        embedded_apiserver: EmbeddedApiServer, content_type: str) -> None:
    send(embedded_apiserver, "POST", DEPLOYMENTS, deployment())
    status, body, _ = send(embedded_apiserver, "PATCH", f"{DEPLOYMENTS}/web",
                           {"spec": {"replicas": "two"}}, content_type=content_type)
    assert status == 422
    assert body["reason"] == "Invalid"
    [cause] = body["details"]["causes"]
    assert cause["field"] == "patch"
    assert cause["message"].endswith(
        ": json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
        "type int32")
    assert body["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    status, stored, _ = send(embedded_apiserver, "GET", f"{DEPLOYMENTS}/web", None)
    assert stored["spec"]["replicas"] == 1


def test_a_patch_with_unknown_fields_is_refused_under_strict(
        embedded_apiserver: EmbeddedApiServer) -> None:
    send(embedded_apiserver, "POST", DEPLOYMENTS, deployment())
    status, body, _ = send(embedded_apiserver, "PATCH", f"{DEPLOYMENTS}/web?fieldValidation="
                           "Strict", {"spec": {"replicaz": 3}},
                           content_type="application/merge-patch+json")
    assert status == 400
    assert body["message"] == 'strict decoding error: unknown field "spec.replicaz"'


@pytest.mark.parametrize(("validation", "status", "warning"), [
    pytest.param("Strict", 400, None, id="strict"),
    pytest.param("Warn", 201, '299 - "duplicate field \\"spec.replicas\\""', id="warn"),
    pytest.param("Ignore", 201, None, id="ignore"),
])
def test_a_repeated_json_key_is_a_strict_decoding_error(
        embedded_apiserver: EmbeddedApiServer, validation: str, status: int,
        warning: str | None) -> None:
    text = json.dumps(deployment())
    raw = text.replace('"replicas": 1', '"replicas": 1, "replicas": 3').encode()
    answer, body, header = send(embedded_apiserver, "POST",
                                f"{DEPLOYMENTS}?fieldValidation={validation}", raw)
    assert answer == status
    if status == 400:
        assert body["message"] == 'strict decoding error: duplicate field "spec.replicas"'
    else:
        assert body["spec"]["replicas"] == 3  # the last one, as Go keeps it
        assert header == warning


def test_without_kubernetes_validate_built_ins_pass_unchecked_and_it_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_builtin_schemas, "_load", lambda: None)
    _builtin_schemas.definitions.cache_clear()
    try:
        body = bad_deployment()
        assert decode_typed(body, DEPLOYMENT) == (body, [])
        assert decode_typed(body, DEPLOYMENT) == (body, [])
    finally:
        _builtin_schemas.definitions.cache_clear()
    said = [r.getMessage() for r in caplog.records if "kubernetes-validate" in r.getMessage()]
    assert said == [_builtin_schemas.MISSING_MESSAGE]
