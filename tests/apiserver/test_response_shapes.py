"""What the server answers, to the byte: DELETE's answer per kind, and the JSON encoding.

kube-apiserver's generic registry answers a DELETE with the deleted object for the kinds whose
store sets ``ReturnDeletedObject`` and with a ``Status{status: Success}`` for the others; the
official client's typed ``delete_*`` methods expect exactly that (``V1Service``, ``V1Pod``...).
Every body goes through Go's ``json.Encoder``: fields in struct order, HTML characters escaped,
a final newline. The expected bytes below are written from apimachinery's ``metav1.Status`` and
``StatusDetails`` struct order (kind, apiVersion, metadata, status, message, reason, details,
code; name, group, kind, uid, causes) and ``Store.finalizeDelete``'s success Status.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import kubernetes
import pytest

from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.apiserver.registry._builtins import BUILTIN_RESOURCES

# kube-apiserver 1.32: the stores with ReturnDeletedObject (pkg/registry/*/*/storage/storage.go).
RETURNS_DELETED = {
    "v1/namespaces", "v1/pods", "v1/services", "v1/serviceaccounts", "v1/persistentvolumes",
    "v1/persistentvolumeclaims", "v1/resourcequotas", "storage.k8s.io/v1/storageclasses",
}


def _request(server: EmbeddedApiServer, method: str, path: str, body: Any = None,
             ) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_returns_deleted_is_set_exactly_where_the_real_store_sets_return_deleted_object() -> None:
    assert {r.name for r in BUILTIN_RESOURCES if r.strategy.returns_deleted} == RETURNS_DELETED


def test_deleting_a_service_answers_the_service_so_the_typed_client_gets_a_v1service(
        core_v1: kubernetes.client.CoreV1Api) -> None:
    core_v1.create_namespaced_service("default", {
        "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    deleted = core_v1.delete_namespaced_service("web", "default")
    assert isinstance(deleted, kubernetes.client.V1Service)
    assert deleted.metadata.name == "web"


@pytest.mark.parametrize(("method", "body", "model"), [
    pytest.param("pod", {"metadata": {"name": "p"},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                 kubernetes.client.V1Pod, id="pod"),
    pytest.param("service_account", {"metadata": {"name": "sa"}},
                 kubernetes.client.V1ServiceAccount, id="serviceaccount"),
    pytest.param("resource_quota", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}},
                 kubernetes.client.V1ResourceQuota, id="resourcequota"),
])
def test_typed_deletes_of_kinds_that_return_the_object_get_their_model(
        core_v1: kubernetes.client.CoreV1Api, method: str, body: dict[str, Any],
        model: type) -> None:
    getattr(core_v1, f"create_namespaced_{method}")("default", body)
    deleted = getattr(core_v1, f"delete_namespaced_{method}")(body["metadata"]["name"], "default")
    assert isinstance(deleted, model)


def test_deleting_a_configmap_answers_the_success_status_byte_for_byte(
        embedded_apiserver: EmbeddedApiServer) -> None:
    _, created = _request(embedded_apiserver, "POST", "/api/v1/namespaces/default/configmaps",
                          {"metadata": {"name": "cm"}})
    uid = json.loads(created)["metadata"]["uid"]
    status, body = _request(embedded_apiserver, "DELETE",
                            "/api/v1/namespaces/default/configmaps/cm")
    assert status == 200
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
                    b'"details":{"name":"cm","kind":"configmaps","uid":"' + uid.encode()
                    + b'"}}\n')


def test_a_success_status_of_a_named_group_names_the_group(
        apps_v1: kubernetes.client.AppsV1Api) -> None:
    apps_v1.create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    status = apps_v1.delete_namespaced_deployment("web", "default")
    assert status["status"] == "Success"
    assert status["details"]["group"] == "apps"
    assert status["details"]["kind"] == "deployments"
    assert "code" not in status


def test_a_kind_held_by_finalizers_answers_the_object_and_202_when_asked_not_to_orphan(
        embedded_apiserver: EmbeddedApiServer) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for name in ("held", "held2"):
        _request(embedded_apiserver, "POST", base,
                 {"metadata": {"name": name, "finalizers": ["example.com/keep"]}})
    status, body = _request(embedded_apiserver, "DELETE", f"{base}/held")
    assert status == 200
    assert json.loads(body)["metadata"]["deletionTimestamp"]
    status, body = _request(embedded_apiserver, "DELETE", f"{base}/held2",
                            {"orphanDependents": False})
    assert status == 202
    assert json.loads(body)["kind"] == "ConfigMap"


@pytest.mark.parametrize(("method", "path", "body", "expected"), [
    pytest.param(
        "GET", "/api/v1/namespaces/default/configmaps/nope", None,
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","kind":"configmaps"},"code":404}\n',
        id="not-found"),
    pytest.param(
        "POST", "/api/v1/namespaces", {"metadata": {"name": "default"}},
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"namespaces \\"default\\" already exists","reason":"AlreadyExists",'
        b'"details":{"name":"default","kind":"namespaces"},"code":409}\n',
        id="already-exists"),
    pytest.param(
        "PATCH", "/api/v1/namespaces/default/configmaps", {},
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"the server does not allow this method on the requested resource",'
        b'"reason":"MethodNotAllowed","details":{},"code":405}\n',
        id="method-not-allowed"),
    pytest.param(
        "GET", "/apis/apps/v1/namespaces/default/deployments/nope", None,
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"deployments.apps \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n',
        id="not-found-in-a-group"),
])
def test_error_bodies_are_the_real_servers_bytes(
        embedded_apiserver: EmbeddedApiServer, method: str, path: str, body: Any,
        expected: bytes) -> None:
    _, answer = _request(embedded_apiserver, method, path, body)
    assert answer == expected


def test_html_characters_are_escaped_as_go_escapes_them(
        embedded_apiserver: EmbeddedApiServer) -> None:
    _request(embedded_apiserver, "POST", "/api/v1/namespaces/default/configmaps",
             {"metadata": {"name": "cm"}, "data": {"html": "<a href='x?y=1&z=2'>"}})
    _, body = _request(embedded_apiserver, "GET", "/api/v1/namespaces/default/configmaps/cm")
    assert b'"html":"\\u003ca href=\'x?y=1\\u0026z=2\'\\u003e"' in body
    assert json.loads(body)["data"]["html"] == "<a href='x?y=1&z=2'>"


@pytest.mark.parametrize("path", [
    "/api", "/apis", "/api/v1", "/api/v1/namespaces", "/api/v1/namespaces/default",
])
def test_every_encoded_body_ends_with_the_encoders_newline(
        embedded_apiserver: EmbeddedApiServer, path: str) -> None:
    _, body = _request(embedded_apiserver, "GET", path)
    assert body.endswith(b"}\n")
    assert not body.endswith(b"\n\n")


def test_version_is_indented_as_marshal_indent_writes_it(
        embedded_apiserver: EmbeddedApiServer) -> None:
    _, body = _request(embedded_apiserver, "GET", "/version")
    assert body.startswith(b'{\n  "major": "1",\n  "minor": "32",')
    assert body.endswith(b"}")


def test_kubectl_deletes_a_service_and_reports_it(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80}]}}))
    assert kubectl("delete", "service", "web").stdout.strip() == 'service "web" deleted'
    assert "NotFound" in kubectl("get", "service", "web", check=False).stderr
