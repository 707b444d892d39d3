"""Protobuf request bodies: the wire decoder, its field table, and the server taking them.

Objects are written with a test-only encoder driven by the same table (``_helpers.protobuf``)
and must decode to the very JSON they were written from; the wire's corner cases are built by
hand. What real clients send is in ``test_client_go_tools.py`` (kubectl 1.35, Helm 4).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import urllib3
from _helpers.protobuf import encode_message, encode_object, field, key, scalar, varint

from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.apiserver.apimachinery._decoding import DecodeError
from kopf_informers.testing.apiserver.apimachinery._limits import DEPTH_EXCEEDED, MAX_DEPTH
from kopf_informers.testing.apiserver.apimachinery._protobuf import (
    MAGIC,
    decode_object,
    go_duration,
    table,
)
from kopf_informers.testing.apiserver.registry._builtins import BUILTIN_RESOURCES

PROTOBUF = "application/vnd.kubernetes.protobuf"
CLIENT_GO_ACCEPT = "application/vnd.kubernetes.protobuf, application/json"
META = {
    "name": "x", "namespace": "default", "labels": {"app": "x"},
    "annotations": {"note": "", "a/b": "c"},
    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                         "uid": "4d3c-11", "controller": True, "blockOwnerDeletion": False}],
    "finalizers": ["example.com/cleanup"],
    "creationTimestamp": "2026-01-02T03:04:05Z",
    "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                       "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                       "fieldsV1": {"f:data": {"f:a": {}}}}],
}
POD_SPEC = {
    "containers": [{
        "name": "app", "image": "nginx:1.27", "args": ["--port", "8080"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [
            {"name": "PLAIN", "value": "1"},
            {"name": "FROM_SECRET",
             "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "settings", "optional": False}}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                      "requests": {"cpu": "0.1"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True}],
        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }],
    "volumes": [
        {"name": "config", "configMap": {"name": "settings", "defaultMode": 420}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
    ],
    "securityContext": {"supplementalGroups": [1000, 2000], "fsGroup": 1000},
    "terminationGracePeriodSeconds": 0,
}
OBJECTS = [
    pytest.param({"apiVersion": "v1", "kind": "ConfigMap", "metadata": META,
                  "data": {"a": "1", "empty": ""}, "binaryData": {"bin": "AAEC/w=="},
                  "immutable": False}, id="configmap"),
    pytest.param({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                  "type": "Opaque", "data": {"password": "czNjcjN0", "none": ""},
                  "stringData": {"plain": "text"}}, id="secret"),
    pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
                  "spec": {"finalizers": ["kubernetes"]}}, id="namespace"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"replicas": 0, "selector": {
                      "matchLabels": {"app": "d"},
                      "matchExpressions": [{"key": "tier", "operator": "In",
                                            "values": ["a", "b"]}]},
                      "strategy": {"type": "RollingUpdate",
                                   "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                      "template": {"metadata": {"labels": {"app": "d"}}, "spec": POD_SPEC}}},
                 id="deployment"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
                  "spec": {"type": "ClusterIP", "selector": {"app": "d"}, "ports": [
                      {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                      {"name": "metrics", "port": 9090, "targetPort": 9091}]}},
                 id="service"),
    pytest.param({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                  "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 100,
                           "template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}}},
                 id="job"),
    pytest.param({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                  "metadata": {"name": "e", "namespace": "default"},
                  "eventTime": "2026-01-02T03:04:05.123456Z", "reason": "Started",
                  "regarding": {"kind": "Pod", "name": "p"}, "type": "Normal",
                  "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:06.000001Z"}},
                 id="event-microtime"),
    pytest.param({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                  "metadata": {"name": "leader"},
                  "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                           "renewTime": "2026-01-02T03:04:05.500000Z"}}, id="lease"),
    pytest.param({"apiVersion": "apps/v1", "kind": "ControllerRevision",
                  "metadata": {"name": "r"}, "revision": 3,
                  "data": {"spec": {"template": {"x": [1, 2.5, None, True]}}}},
                 id="controllerrevision-rawextension"),
    pytest.param({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": {"name": "pdb"},
                  "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"a": "b"}}}},
                 id="pdb"),
    pytest.param({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                  "metadata": {"name": "h"},
                  "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "d"},
                           "minReplicas": 1, "maxReplicas": 5,
                           "metrics": [{"type": "Resource", "resource": {
                               "name": "memory",
                               "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]}},
                 id="hpa"),
    pytest.param({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                  "metadata": {"name": "rb"},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                              "name": "r"},
                  "subjects": [{"kind": "ServiceAccount", "name": "sa",
                                "namespace": "default"}]}, id="rolebinding"),
    pytest.param({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                  "metadata": {"name": "foos.example.com"},
                  "spec": {"group": "example.com", "scope": "Namespaced",
                           "names": {"plural": "foos", "kind": "Foo"},
                           "versions": [{"name": "v1", "served": True, "storage": True,
                                         "schema": {"openAPIV3Schema": {
                                             "type": "object",
                                             "x-kubernetes-preserve-unknown-fields": True,
                                             "properties": {
                                                 "size": {"type": "integer", "maximum": 1.5,
                                                          "minimum": 0, "default": 1},
                                                 "color": {"type": "string",
                                                           "enum": ["red", "green"]},
                                                 "tags": {"type": "array",
                                                          "items": {"type": "string"}},
                                                 "extra": {"type": "object",
                                                           "additionalProperties": False},
                                                 "env": {"type": "object",
                                                         "additionalProperties":
                                                             {"type": "string"}},
                                                 "$ref": {"$ref": "#/x"},
                                             },
                                             "dependencies": {"a": ["b", "c"]},
                                         }},
                                         "subresources": {"status": {}}}]}},
                 id="crd-jsonschemaprops"),
    pytest.param({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                  "propagationPolicy": "Foreground", "dryRun": ["All"],
                  "preconditions": {"uid": "u", "resourceVersion": "7"}},
                 id="deleteoptions"),
]


@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("packed", [False, True], ids=["unpacked", "packed"])
def test_an_object_written_as_protobuf_decodes_to_the_same_json(
    obj: dict[str, Any], packed: bool,
) -> None:
    assert decode_object(encode_object(obj, packed=packed)) == obj


def test_every_served_built_in_kind_has_a_message_in_the_table() -> None:
    kinds = table().kinds
    missing = [f"{r.api_version}/{r.kind}" for r in BUILTIN_RESOURCES
               if f"{r.api_version}/{r.kind}" not in kinds]
    assert missing == []  # regenerate with tools/proto_table.py after adding a built-in


def test_every_type_a_field_names_is_in_the_table() -> None:
    messages = table().messages
    scalars = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double",
               "float", "fixed64", "fixed32"}
    dangling = {(name, f.name, t) for name, fields in messages.items() for f in fields.values()
                for t in (f.type, f.value) if t and t not in scalars and t not in messages}
    assert dangling == set()


# -- the wire, by hand ----------------------------------------------------------------------------


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = scalar(1, "string", api_version) + scalar(2, "string", kind)
    return MAGIC + field(1, type_meta) + field(2, raw)


def configmap_meta(meta: bytes) -> bytes:
    return envelope("v1", "ConfigMap", field(1, meta))


def test_zeros_json_omits_are_dropped_a_pointers_zero_is_kept_and_the_zero_time_is_null(
) -> None:
    # As Go writes an ObjectMeta: every non-pointer field, zero or not; a set pointer (the
    # grace period); and the zero Time as an empty message.
    meta = (scalar(1, "string", "x") + scalar(2, "string", "") + scalar(3, "string", "")
            + scalar(7, "int64", 0) + field(8, b"") + scalar(10, "int64", 0))
    assert decode_object(configmap_meta(meta)) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "creationTimestamp": None, "deletionGracePeriodSeconds": 0},
    }


def test_a_required_fields_zero_is_kept_as_json_writes_it() -> None:
    port = scalar(2, "int32", 0) + scalar(3, "int32", 0)  # hostPort (omitempty), containerPort
    container = scalar(1, "string", "app") + field(6, port)
    pod = field(1, scalar(1, "string", "p")) + field(2, field(2, container))
    obj = decode_object(envelope("v1", "Pod", pod))
    assert obj["spec"]["containers"] == [{"name": "app", "ports": [{"containerPort": 0}]}]


def test_unknown_fields_are_skipped_of_every_wire_type() -> None:
    unknown = (key(90, 0) + varint(5) + key(91, 1) + b"\x00" * 8 + key(92, 5) + b"\x00" * 4
               + field(93, b"whatever"))
    obj = decode_object(configmap_meta(scalar(1, "string", "x") + unknown))
    assert obj["metadata"] == {"name": "x"}


def test_a_negative_int32_is_ten_bytes_as_go_writes_it() -> None:
    assert len(varint(-1)) == 10
    raw = envelope("v1", "DeleteOptions", scalar(1, "int64", -1))
    assert decode_object(raw)["gracePeriodSeconds"] == -1


def test_seconds_of_a_time_are_kept_and_its_nanoseconds_dropped_as_metav1_does() -> None:
    meta = scalar(1, "string", "x") + field(8, scalar(1, "int64", 0) + scalar(2, "int32", 999))
    assert decode_object(configmap_meta(meta))["metadata"]["creationTimestamp"] == \
        "1970-01-01T00:00:00Z"


def test_a_map_entry_without_a_value_is_the_zero_value() -> None:
    data = field(2, field(1, b"k"))  # ConfigMap.data, an entry of a key only
    obj = decode_object(envelope("v1", "ConfigMap", field(1, b"") + data))
    assert obj["data"] == {"k": ""}


def test_an_envelope_may_carry_json() -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}).encode()
    raw = MAGIC + field(1, b"") + field(2, body) + scalar(4, "string", "application/json")
    assert decode_object(raw)["data"] == {"a": "1"}


@pytest.mark.parametrize(("nanoseconds", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (300_000_000, "300ms"), (1_500_000_000, "1.5s"),
    (60_000_000_000, "1m0s"), (3_600_000_000_000, "1h0m0s"), (-90_000_000_000, "-1m30s"),
    (3_723_004_000_000, "1h2m3.004s"),
])
def test_a_duration_is_written_as_go_writes_one(nanoseconds: int, text: str) -> None:
    assert go_duration(nanoseconds) == text


@pytest.mark.parametrize(("raw", "words"), [
    pytest.param(b"{}", "does not appear to be a protobuf message", id="json"),
    pytest.param(b"k8s\x00" + field(2, b"\x0a\x05ab"), 'no kind "" is registered',
                 id="no-type-meta"),
    pytest.param(envelope("v1", "Gadget", b""), 'no kind "Gadget" is registered for version '
                 '"v1"', id="unknown-kind"),
    pytest.param(envelope("v1", "ConfigMap", b"\x0a\x05ab"), "unexpected EOF", id="truncated"),
    pytest.param(envelope("v1", "ConfigMap", key(1, 0) + varint(3)), "wrong wire type",
                 id="wrong-wire-type"),
    pytest.param(envelope("v1", "ConfigMap", key(1, 3)), "illegal wire type", id="group"),
    pytest.param(envelope("v1", "ConfigMap", field(1, field(1, b"\xff"))), "invalid UTF-8",
                 id="bad-utf8"),
    pytest.param(envelope("v1", "ConfigMap", key(1, 2) + b"\xff" * 11), "integer overflow",
                 id="varint-overflow"),
    pytest.param(MAGIC + scalar(3, "string", "gzip"), "unsupported content encoding",
                 id="encoding"),
])
def test_a_body_that_is_not_protobuf_of_a_known_kind_is_a_decode_error(
    raw: bytes, words: str,
) -> None:
    with pytest.raises(DecodeError, match=words):
        decode_object(raw)


def test_schemas_nested_beyond_the_depth_limit_are_refused() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_DEPTH):
        schema = {"type": "object", "properties": {"p": schema}}
    raw = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                   encode_message("apiextensions.v1.CustomResourceDefinition", {
                       "spec": {"versions": [{"schema": {"openAPIV3Schema": schema}}]}}))
    with pytest.raises(DecodeError, match=DEPTH_EXCEEDED):
        decode_object(raw)


# -- the table's script ---------------------------------------------------------------------------


def load_script() -> Any:
    path = Path(__file__).resolve().parents[2] / "tools" / "proto_table.py"
    spec = importlib.util.spec_from_file_location("proto_table", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["proto_table"] = module
    spec.loader.exec_module(module)
    return module


def test_the_script_reads_fields_maps_and_types_from_a_proto_file() -> None:
    script = load_script()
    package, go_package, messages = script.parse('''
        syntax = "proto2";
        package k8s.io.api.demo.v1;
        option go_package = "k8s.io/api/demo/v1";
        /* a block comment */
        message Widget {
          // +optional
          optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;
          map<string, string> labels = 2;
          repeated WidgetPart parts = 3;
          optional int32 size = 4;
        }
        message WidgetPart {
          optional string name = 1;
        }
    ''')
    assert (package, go_package) == ("k8s.io.api.demo.v1", "k8s.io/api/demo/v1")
    assert messages["Widget"] == [
        ("optional", ".k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", 1, "metadata", ""),
        ("map", "string", 2, "labels", "string"),
        ("repeated", "WidgetPart", 3, "parts", ""),
        ("optional", "int32", 4, "size", ""),
    ]
    assert script.short("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta") == "meta.v1.ObjectMeta"


def test_the_checked_in_table_names_its_sources() -> None:
    path = Path(__file__).resolve().parents[2] / (
        "kopf_informers/testing/apiserver/apimachinery/_protobuf_table.json")
    source = json.loads(path.read_text())["source"]
    assert "k8s.io/api@" in source
    assert "k8s.io/apimachinery@" in source


# -- the server -----------------------------------------------------------------------------------

HTTP = urllib3.PoolManager(retries=False, timeout=10)
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def send(server: EmbeddedApiServer, method: str, path: str, body: bytes = b"",
         content_type: str = PROTOBUF, accept: str = CLIENT_GO_ACCEPT,
         ) -> tuple[int, str, Any]:
    response = HTTP.request(method, server.url + path, body=body,
                            headers={"Content-Type": content_type, "Accept": accept})
    return (response.status, response.headers.get("Content-Type", ""),
            json.loads(response.data) if response.data else None)


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.mark.parametrize("accept", [CLIENT_GO_ACCEPT, PROTOBUF, "*/*"])
def test_a_protobuf_create_is_stored_and_answered_in_json_whatever_is_accepted(
    embedded_apiserver: EmbeddedApiServer, accept: str,
) -> None:
    status, content_type, body = send(embedded_apiserver, "POST", CONFIGMAPS,
                                      encode_object(configmap("x", a="1")), accept=accept)
    assert (status, content_type, body["data"]) == (201, "application/json", {"a": "1"})
    assert body["metadata"]["namespace"] == "default"
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/x")[2]["data"] == {"a": "1"}


def test_a_protobuf_update_replaces_the_object(embedded_apiserver: EmbeddedApiServer) -> None:
    created = send(embedded_apiserver, "POST", CONFIGMAPS, encode_object(configmap("x", a="1")))
    changed = copy.deepcopy(created[2])
    changed["data"] = {"a": "2"}
    changed["metadata"].pop("managedFields", None)
    status, _, body = send(embedded_apiserver, "PUT", f"{CONFIGMAPS}/x", encode_object(changed))
    assert (status, body["data"]) == (200, {"a": "2"})


def test_protobuf_delete_options_are_obeyed(embedded_apiserver: EmbeddedApiServer) -> None:
    send(embedded_apiserver, "POST", CONFIGMAPS, encode_object(configmap("x")))
    options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "other"}}
    status, _, body = send(embedded_apiserver, "DELETE", f"{CONFIGMAPS}/x",
                           encode_object(options))
    assert (status, body["reason"]) == (409, "Conflict")
    assert "Precondition failed: UID in precondition: other" in body["message"]
    del options["preconditions"]
    assert send(embedded_apiserver, "DELETE", f"{CONFIGMAPS}/x", encode_object(options))[0] == 200
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/x")[0] == 404


def test_a_body_that_is_not_protobuf_is_400_and_changes_nothing(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    status, _, body = send(embedded_apiserver, "POST", CONFIGMAPS, b'{"kind": "ConfigMap"}')
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"].startswith("error decoding protobuf: provided data does not appear")
    assert send(embedded_apiserver, "GET", CONFIGMAPS)[2]["items"] == []


def test_a_protobuf_scale_update_scales_the_deployment(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    deployments = "/apis/apps/v1/namespaces/default/deployments"
    labels = {"app": "d"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
    }
    assert send(embedded_apiserver, "POST", deployments, encode_object(deployment))[0] == 201
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
             "metadata": {"name": "d", "namespace": "default"}, "spec": {"replicas": 3}}
    status, _, body = send(embedded_apiserver, "PUT", f"{deployments}/d/scale",
                           encode_object(scale))
    assert (status, body["kind"], body["spec"]["replicas"]) == (200, "Scale", 3)
    assert send(embedded_apiserver, "GET", f"{deployments}/d")[2]["spec"]["replicas"] == 3
