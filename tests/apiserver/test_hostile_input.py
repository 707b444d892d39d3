"""Hostile input: what the embedded server refuses, and that it refuses it as kube-apiserver does.

Every request goes over real HTTP with urllib3, which sends any method, body and content type as
given (the typed clients would not). Every request is bounded by a read timeout, so a server that
stalls on its input fails the test instead of hanging the suite; the server is then asked once
more for something ordinary, to show that it still serves.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import urllib3

from kopf_informers.testing.apiserver import EmbeddedApiServer

READ_TIMEOUT = 10  # seconds: every refusal here takes milliseconds; a stall fails the test
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=READ_TIMEOUT))
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
JSON = "application/json"
MERGE = "application/merge-patch+json"


@dataclasses.dataclass
class Answer:
    status: int
    body: Any

    @property
    def message(self) -> str:
        message: str = self.body["message"]
        return message


def send(server: EmbeddedApiServer, method: str, path: str, body: bytes | str | Any = b"",
         content_type: str = JSON, accept: str = JSON,
         read_timeout: float = READ_TIMEOUT) -> Answer:
    """One request as sent, its answer decoded; bytes and str bodies go as they are."""
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    response = HTTP.request(method, server.url + path, body=body,
                            headers={"Content-Type": content_type, "Accept": accept},
                            timeout=urllib3.Timeout(connect=5, read=read_timeout))
    return Answer(response.status, json.loads(response.data) if response.data else None)


def still_serves(server: EmbeddedApiServer) -> bool:
    return send(server, "GET", f"{CONFIGMAPS}?limit=1").status == 200


# -- verbs the resource's URL does not take -------------------------------------------------------

METHOD_NOT_ALLOWED = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": "the server does not allow this method on the requested resource",
    "reason": "MethodNotAllowed", "details": {}, "code": 405,
}


@pytest.mark.parametrize(("method", "path", "body"), [
    pytest.param("PATCH", CONFIGMAPS, {"data": {"a": "b"}}, id="patch-namespaced-collection"),
    pytest.param("PUT", CONFIGMAPS, {"metadata": {"name": "x"}}, id="put-namespaced-collection"),
    pytest.param("PATCH", "/api/v1/namespaces", {}, id="patch-cluster-collection"),
    pytest.param("PUT", "/api/v1/configmaps", {}, id="put-all-namespaces"),
    pytest.param("POST", "/api/v1/configmaps", {"metadata": {"name": "named"}},
                 id="post-all-namespaces"),
    pytest.param("DELETE", "/api/v1/configmaps", b"", id="delete-all-namespaces"),
    pytest.param("POST", f"{CONFIGMAPS}/named", {"metadata": {"name": "named"}}, id="post-item"),
])
def test_a_verb_the_url_does_not_take_is_405_method_not_allowed(
    embedded_apiserver: EmbeddedApiServer, method: str, path: str, body: Any,
) -> None:
    answer = send(embedded_apiserver, method, path, body,
                  content_type=MERGE if method == "PATCH" else JSON)
    assert (answer.status, answer.body) == (405, METHOD_NOT_ALLOWED)
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/named").status == 404


# -- integer query parameters ---------------------------------------------------------------------

WATCH = f"{CONFIGMAPS}?watch=true&timeoutSeconds="
LIST = f"{CONFIGMAPS}?limit="
DELETE = f"{CONFIGMAPS}/named?gracePeriodSeconds="


@pytest.mark.parametrize(("method", "prefix", "value", "error"), [
    pytest.param("GET", WATCH, "1" + "0" * 400, "value out of range", id="timeout-10^400"),
    pytest.param("GET", WATCH, "9" * 5000, "value out of range", id="timeout-5000-digits"),
    pytest.param("GET", WATCH, "9223372036854775808", "value out of range", id="timeout-2^63"),
    pytest.param("GET", WATCH, "-9223372036854775809", "value out of range", id="timeout-2^63-1"),
    pytest.param("GET", WATCH, "NaN", "invalid syntax", id="timeout-nan"),
    pytest.param("GET", WATCH, "abc", "invalid syntax", id="timeout-word"),
    pytest.param("GET", WATCH, "1e3", "invalid syntax", id="timeout-exponent"),
    pytest.param("GET", WATCH, "1.5", "invalid syntax", id="timeout-fraction"),
    pytest.param("GET", WATCH, "1_000", "invalid syntax", id="timeout-underscores"),
    pytest.param("GET", WATCH, " 5", "invalid syntax", id="timeout-space"),
    pytest.param("GET", WATCH, "٣", "invalid syntax", id="timeout-arabic-digit"),
    pytest.param("GET", LIST, "1" + "0" * 400, "value out of range", id="limit-10^400"),
    pytest.param("GET", LIST, "ten", "invalid syntax", id="limit-word"),
    pytest.param("DELETE", DELETE, "1" + "0" * 400, "value out of range", id="grace-10^400"),
])
def test_an_integer_parameter_beyond_int64_or_not_an_integer_is_400_as_go_parses_it(
    embedded_apiserver: EmbeddedApiServer, method: str, prefix: str, value: str, error: str,
) -> None:
    answer = send(embedded_apiserver, method, prefix + urllib.parse.quote(value))
    assert answer.status == 400
    assert answer.body["reason"] == "BadRequest"
    quoted = json.dumps(value, ensure_ascii=False)  # as Go's %q quotes these
    assert answer.message == f"strconv.ParseInt: parsing {quoted}: {error}"


def test_a_negative_watch_timeout_ends_the_watch_at_once(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    send(embedded_apiserver, "POST", CONFIGMAPS, {"metadata": {"name": "seen"}})
    response = HTTP.request("GET", embedded_apiserver.url + WATCH + "-5")
    events = [json.loads(line) for line in response.data.splitlines()]
    assert response.status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "seen")]


def test_the_largest_int64_watch_timeout_is_taken_and_streams(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    send(embedded_apiserver, "POST", CONFIGMAPS, {"metadata": {"name": "seen"}})
    response = HTTP.request("GET", embedded_apiserver.url + WATCH + str(2**63 - 1),
                            preload_content=False)
    try:
        assert response.status == 200
        first = json.loads(response.readline())
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "seen")
    finally:
        response.close()


# -- sizes ----------------------------------------------------------------------------------------

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
BODY_LIMIT = 3 * 1024 * 1024
TOO_LARGE = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": f"Request entity too large: limit is {BODY_LIMIT}",
    "reason": "RequestEntityTooLarge", "code": 413,
}


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.mark.parametrize(("method", "path", "content_type"), [
    pytest.param("POST", CONFIGMAPS, JSON, id="create"),
    pytest.param("PUT", f"{CONFIGMAPS}/big", JSON, id="update"),
    pytest.param("PATCH", f"{CONFIGMAPS}/big", MERGE, id="merge-patch"),
    pytest.param("PATCH", f"{CONFIGMAPS}/big?fieldManager=test", APPLY, id="apply"),
    pytest.param("DELETE", f"{CONFIGMAPS}/big", JSON, id="delete"),
])
def test_a_10_mb_body_is_413_request_entity_too_large_and_changes_nothing(
    embedded_apiserver: EmbeddedApiServer, method: str, path: str, content_type: str,
) -> None:
    before = send(embedded_apiserver, "POST", CONFIGMAPS, configmap("big", small="yes")).body
    answer = send(embedded_apiserver, method, path, configmap("big", huge="x" * 10_000_000),
                  content_type=content_type)
    assert (answer.status, answer.body) == (413, TOO_LARGE)
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/big").body == before


def test_a_body_streamed_without_a_length_is_cut_off_at_3_mib(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    def chunks() -> Any:
        yield b'{"metadata": {"name": "streamed"}, "data": {"huge": "'
        for _ in range(10):
            yield b"x" * 1_000_000
        yield b'"}}'

    response = HTTP.request("POST", embedded_apiserver.url + CONFIGMAPS, body=chunks(),
                            headers={"Content-Type": JSON}, chunked=True)
    assert (response.status, json.loads(response.data)) == (413, TOO_LARGE)
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/streamed").status == 404
    assert still_serves(embedded_apiserver)


@pytest.mark.parametrize(("size", "refused"), [
    pytest.param(BODY_LIMIT, False, id="at-the-limit"),
    pytest.param(BODY_LIMIT + 1, True, id="one-byte-over"),
])
def test_the_body_limit_is_3_mib_exactly(
    embedded_apiserver: EmbeddedApiServer, size: int, refused: bool,
) -> None:
    body = b'{"metadata": {"generateName": "padded-"}}'
    answer = send(embedded_apiserver, "POST", CONFIGMAPS, body + b" " * (size - len(body)))
    assert (answer.status == 413) == refused


def test_a_json_patch_copying_the_object_into_itself_is_422_before_it_grows(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    before = send(embedded_apiserver, "POST", CONFIGMAPS, configmap("copied", a="b")).body
    ops = [{"op": "copy", "from": "/metadata", "path": f"/metadata/x{i}"} for i in range(40)]
    answer = send(embedded_apiserver, "PATCH", f"{CONFIGMAPS}/copied", ops, JSON_PATCH)
    assert answer.status == 422
    assert answer.body["reason"] == "Invalid"
    assert answer.message.startswith("Unable to complete the copy, the accumulated size increase "
                                     "of copy is ")
    assert answer.message.endswith(f", exceeding the limit {BODY_LIMIT}")
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/copied").body == before


def test_a_json_patch_of_more_than_10000_operations_is_413(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    before = send(embedded_apiserver, "POST", CONFIGMAPS, configmap("many", a="b")).body
    ops = [{"op": "add", "path": "/data/a", "value": "c"}] * 10_001
    answer = send(embedded_apiserver, "PATCH", f"{CONFIGMAPS}/many", ops, JSON_PATCH)
    assert answer.status == 413
    assert answer.body["reason"] == "RequestEntityTooLarge"
    assert answer.message == ("Request entity too large: The allowed maximum operations in a "
                              "JSON patch is 10000, got 10001")
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/many").body == before


BLOBS = "/apis/example.com/v1/namespaces/default/blobs"
STORAGE_TOO_LARGE = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": "etcdserver: request is too large", "code": 500,
}
MiB = 1024 * 1024


@pytest.fixture
def blobs(embedded_apiserver: EmbeddedApiServer) -> str:
    """A CRD whose objects keep whatever they are given: their size and depth are the caller's."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "blobs.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "blobs", "singular": "blob", "kind": "Blob",
                      "listKind": "BlobList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }}],
        },
    }
    created = send(embedded_apiserver, "POST",
                   "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert created.status == 201, created.body
    return BLOBS


def blob(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Blob", "metadata": {"name": name},
            "spec": spec}


@pytest.mark.parametrize(("size", "stored"), [
    pytest.param(MiB + MiB // 2 - 1024, True, id="just-under-1.5-MiB"),
    pytest.param(2 * MiB, False, id="2-MiB"),
])
def test_an_object_beyond_etcds_request_limit_is_500_as_etcd_refuses_it(
    embedded_apiserver: EmbeddedApiServer, blobs: str, size: int, stored: bool,
) -> None:
    answer = send(embedded_apiserver, "POST", blobs, blob("sized", data="x" * size))
    if stored:
        assert answer.status == 201
        return
    assert (answer.status, answer.body) == (500, STORAGE_TOO_LARGE)
    assert send(embedded_apiserver, "GET", f"{blobs}/sized").status == 404


@pytest.mark.parametrize(("method", "content_type", "growth"), [
    pytest.param("PUT", JSON, blob("grown", data="x" * MiB, more="y" * MiB), id="update"),
    pytest.param("PATCH", MERGE, {"spec": {"more": "y" * MiB}}, id="merge-patch"),
    pytest.param("PATCH", JSON_PATCH, [{"op": "copy", "from": "/spec/data", "path": "/spec/more"}],
                 id="json-patch-copy"),
    pytest.param("PATCH", f"{APPLY}?fieldManager=test", blob("grown", more="y" * MiB),
                 id="apply"),
])
def test_a_write_that_grows_an_object_beyond_etcds_request_limit_is_500_and_changes_nothing(
    embedded_apiserver: EmbeddedApiServer, blobs: str, method: str, content_type: str,
    growth: Any,
) -> None:
    content_type, _, query = content_type.partition("?")
    path = f"{blobs}/grown" + (f"?{query}" if query else "")
    before = send(embedded_apiserver, "POST", blobs, blob("grown", data="x" * MiB)).body
    answer = send(embedded_apiserver, method, path, growth, content_type)
    assert (answer.status, answer.body) == (500, STORAGE_TOO_LARGE)
    assert send(embedded_apiserver, "GET", f"{blobs}/grown").body == before


def test_a_patch_too_large_with_its_managed_fields_is_stored_without_them(
    embedded_apiserver: EmbeddedApiServer, blobs: str,
) -> None:
    keys = {f"k{i:05}": 1 for i in range(20_000)}  # as JSON, ~200 KB; their fieldsV1, ~280 KB
    applied = send(embedded_apiserver, "PATCH", f"{blobs}/managed?fieldManager=test",
                   blob("managed", **keys), APPLY)
    assert applied.status == 201
    assert len(json.dumps(applied.body["metadata"]["managedFields"])) > 250_000
    patch = {"spec": {"more": "y" * (MiB + 128 * 1024)}}  # too large with them, not without
    answer = send(embedded_apiserver, "PATCH", f"{blobs}/managed", patch, MERGE)
    assert answer.status == 200
    assert "managedFields" not in answer.body["metadata"]
    assert len(answer.body["spec"]) == 20_001


# -- depth ----------------------------------------------------------------------------------------

MAX_DEPTH = 200  # the embedded server's limit; the real one's is 10,000
DEPTH_EXCEEDED = f"exceeded max depth of {MAX_DEPTH}"
STRATEGIC = "application/strategic-merge-patch+json"


def nested(levels: int, leaf: Any = "leaf") -> Any:
    """``levels`` objects, one in another, around ``leaf``."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_blob(name: str, depth: int) -> dict[str, Any]:
    """A Blob nested exactly ``depth`` levels, itself included."""
    return blob(name, deep=nested(depth - 2))


@pytest.mark.parametrize("depth", [300, 900, 2000, 100_000])
@pytest.mark.parametrize(("method", "path", "content_type"), [
    pytest.param("POST", BLOBS, JSON, id="create"),
    pytest.param("PUT", f"{BLOBS}/deep", JSON, id="update"),
    pytest.param("PATCH", f"{BLOBS}/deep", MERGE, id="merge-patch"),
    pytest.param("PATCH", f"{BLOBS}/deep?fieldManager=test", APPLY, id="apply"),
    pytest.param("POST", CONFIGMAPS, JSON, id="create-configmap"),
    pytest.param("PATCH", f"{CONFIGMAPS}/deep", STRATEGIC, id="strategic-merge-patch"),
    pytest.param("DELETE", f"{BLOBS}/deep", JSON, id="delete-options"),
])
def test_json_nested_beyond_the_limit_is_400_and_changes_nothing(
    embedded_apiserver: EmbeddedApiServer, blobs: str, method: str, path: str, content_type: str,
    depth: int,
) -> None:
    send(embedded_apiserver, "POST", CONFIGMAPS, configmap("deep", a="b"))
    before = send(embedded_apiserver, "POST", blobs, blob("deep", a="b")).body
    deep = "[" * (depth - 2) + "]" * (depth - 2)  # in spec, in the object: depth levels
    body = deep if method == "DELETE" else json.dumps(blob("deep", deep="DEEP")).replace(
        '"DEEP"', deep)
    answer = send(embedded_apiserver, method, path, body, content_type)
    assert answer.status == 400
    assert answer.body["reason"] == "BadRequest"
    assert answer.message.endswith(DEPTH_EXCEEDED)
    assert send(embedded_apiserver, "GET", f"{blobs}/deep").body == before


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def test_an_object_nested_to_the_limit_is_written_read_listed_and_watched(
    embedded_apiserver: EmbeddedApiServer, blobs: str,
) -> None:
    def deep(leaf: str) -> Any:
        return nested(MAX_DEPTH - 2, leaf)  # in spec, in the object: MAX_DEPTH levels

    created = send(embedded_apiserver, "POST", blobs, blob("deep", deep=deep("created")))
    assert created.status == 201
    assert created.body["spec"]["deep"] == deep("created")
    updated = send(embedded_apiserver, "PUT", f"{blobs}/deep",
                   {**created.body, "spec": {"deep": deep("updated")}})
    assert updated.status == 200
    merged = send(embedded_apiserver, "PATCH", f"{blobs}/deep", {"spec": {"deep": deep("merged")}},
                  MERGE)
    assert merged.status == 200
    patched = send(embedded_apiserver, "PATCH", f"{blobs}/deep",
                   [{"op": "replace", "path": "/spec/deep", "value": deep("patched")}],
                   JSON_PATCH)
    assert patched.status == 200
    listed = send(embedded_apiserver, "GET", blobs)
    assert [item["spec"]["deep"] for item in listed.body["items"]] == [deep("patched")]
    table = send(embedded_apiserver, "GET", f"{blobs}?includeObject=Object", accept=TABLE)
    assert table.body["rows"][0]["object"]["spec"]["deep"] == deep("patched")
    for accept in (JSON, TABLE):
        watched = HTTP.request("GET", f"{embedded_apiserver.url}{blobs}?watch=true&"
                               f"timeoutSeconds=1&includeObject=Object",
                               headers={"Accept": accept})
        assert watched.status == 200
        assert [json.loads(line)["type"] for line in watched.data.splitlines()] == ["ADDED"]
    deleted = send(embedded_apiserver, "DELETE", f"{blobs}/deep")
    assert deleted.status == 200


def test_an_apply_nested_to_the_limit_with_its_managed_fields_is_422_too_deep(
    embedded_apiserver: EmbeddedApiServer, blobs: str,
) -> None:
    path = f"{blobs}/deep?fieldManager=test"
    shallower = send(embedded_apiserver, "PATCH", path, deep_blob("deep", MAX_DEPTH - 5), APPLY)
    assert shallower.status == 201
    answer = send(embedded_apiserver, "PATCH", path, deep_blob("deep", MAX_DEPTH), APPLY)
    assert answer.status == 422  # managedFields nest 5 levels deeper than what they describe
    assert answer.message.endswith(DEPTH_EXCEEDED)
    assert send(embedded_apiserver, "GET", f"{blobs}/deep").body == shallower.body


def test_a_json_patch_that_nests_an_object_beyond_the_limit_is_422(
    embedded_apiserver: EmbeddedApiServer, blobs: str,
) -> None:
    before = send(embedded_apiserver, "POST", blobs, deep_blob("deep", MAX_DEPTH)).body
    innermost = "/spec/deep" + "/a" * (MAX_DEPTH - 3)
    ops = [{"op": "add", "path": f"{innermost}/more", "value": nested(MAX_DEPTH - 2)}]
    answer = send(embedded_apiserver, "PATCH", f"{blobs}/deep", ops, JSON_PATCH)
    assert answer.status == 422
    assert answer.body["reason"] == "Invalid"
    assert answer.message.endswith(DEPTH_EXCEEDED)
    assert send(embedded_apiserver, "GET", f"{blobs}/deep").body == before


def test_a_crd_whose_schema_nests_to_the_limit_serves_validates_and_documents(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    levels = (MAX_DEPTH - 6) // 2  # each level of the schema is two in the CRD, under six
    schema: dict[str, Any] = {"type": "string"}
    value: Any = "leaf"
    for _ in range(levels - 1):
        schema = {"type": "object", "properties": {"a": schema}}
        value = {"a": value}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "depths.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "depths", "singular": "depth", "kind": "Depth",
                      "listKind": "DepthList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object", "properties": {"spec": schema}},
            }}],
        },
    }
    created = send(embedded_apiserver, "POST",
                   "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert created.status == 201, created.body
    depths = "/apis/example.com/v1/namespaces/default/depths"
    valid = {"apiVersion": "example.com/v1", "kind": "Depth", "metadata": {"name": "valid"},
             "spec": value}
    assert send(embedded_apiserver, "POST", depths, valid).status == 201
    invalid = {**valid, "metadata": {"name": "invalid"}, "spec": nested(levels - 1, 1)}
    assert send(embedded_apiserver, "POST", depths, invalid).status == 422
    assert send(embedded_apiserver, "GET", "/openapi/v3/apis/example.com/v1").status == 200


# -- YAML -----------------------------------------------------------------------------------------

YAML = "application/yaml"
LAUGHS = "\n".join([  # "billion laughs": 9^9 strings from 400 bytes, if the aliases expand
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    *(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
      for prev, name in zip("abcdefgh", "bcdefghi", strict=True)),
]).encode()
EXCESSIVE_ALIASING = "error converting YAML to JSON: yaml: document contains excessive aliasing"


@pytest.mark.parametrize(("method", "path", "content_type", "prefix"), [
    pytest.param("PATCH", f"{CONFIGMAPS}/laughs?fieldManager=test", APPLY, b"",
                 id="apply"),
    pytest.param("POST", CONFIGMAPS, YAML, b"metadata: {name: laughs}\n", id="create"),
    pytest.param("PUT", f"{CONFIGMAPS}/laughs", YAML, b"metadata: {name: laughs}\n",
                 id="update"),
])
def test_yaml_whose_aliases_expand_beyond_go_yamls_budget_is_400_at_once(
    embedded_apiserver: EmbeddedApiServer, method: str, path: str, content_type: str,
    prefix: bytes,
) -> None:
    assert len(LAUGHS) < 500
    answer = send(embedded_apiserver, method, path, prefix + b"data:\n  " + LAUGHS.replace(
        b"\n", b"\n  "), content_type)
    assert answer.status == 400
    assert answer.body["reason"] == "BadRequest"
    assert answer.message == f"error decoding YAML: {EXCESSIVE_ALIASING}"
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/laughs").status == 404
    assert still_serves(embedded_apiserver)


def test_yaml_whose_anchor_contains_an_alias_to_itself_is_400(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    answer = send(embedded_apiserver, "PATCH", f"{CONFIGMAPS}/cycle?fieldManager=test",
                  b"metadata: {name: cycle}\ndata: &a {loop: *a}\n", APPLY)
    assert answer.status == 400
    assert answer.message == ("error decoding YAML: error converting YAML to JSON: yaml: "
                              "anchor 'a' value contains itself")


@pytest.mark.parametrize(("method", "path", "content_type"), [
    pytest.param("PATCH", f"{BLOBS}/deep?fieldManager=test", APPLY, id="apply"),
    pytest.param("POST", BLOBS, YAML, id="create"),
])
@pytest.mark.parametrize(("body", "what"), [
    pytest.param(b"spec: " + b"[" * 100_000 + b"]" * 100_000, "flow", id="flow-10^5"),
    pytest.param(b"spec:\n  " + b"- " * 100_000 + b"x", "block", id="block-10^5"),
    pytest.param(b"spec:\n  x: &x " + b"[" * 150 + b"]" * 150 + b"\n  y: " + b"[" * 60
                 + b"*x" + b"]" * 60, "aliases", id="aliases-210"),
])
def test_yaml_nested_beyond_the_limit_is_400_at_once(
    embedded_apiserver: EmbeddedApiServer, blobs: str, method: str, path: str, content_type: str,
    body: bytes, what: str,
) -> None:
    head = b"apiVersion: example.com/v1\nkind: Blob\nmetadata: {name: deep}\n"
    answer = send(embedded_apiserver, method, path, head + body, content_type)
    assert answer.status == 400, what
    assert answer.message == (f"error decoding YAML: error converting YAML to JSON: yaml: "
                              f"{DEPTH_EXCEEDED}")
    assert send(embedded_apiserver, "GET", f"{blobs}/deep").status == 404


def test_yaml_aliases_within_the_budget_are_expanded(embedded_apiserver: EmbeddedApiServer) -> None:
    body = b"metadata: {name: aliased}\ndata: {a: &v shared, b: *v}\n"
    answer = send(embedded_apiserver, "PATCH", f"{CONFIGMAPS}/aliased?fieldManager=test", body,
                  APPLY)
    assert answer.status == 201
    assert answer.body["data"] == {"a": "shared", "b": "shared"}


@pytest.mark.parametrize(("method", "path", "content_type"), [
    pytest.param("POST", CONFIGMAPS, YAML, id="create"),
    pytest.param("PATCH", f"{CONFIGMAPS}/slow?fieldManager=test", APPLY, id="apply"),
])
def test_a_large_yaml_body_is_decoded_while_other_requests_are_served(
    embedded_apiserver: EmbeddedApiServer, wait_until: Callable[..., Any], method: str,
    path: str, content_type: str,
) -> None:
    # PyYAML takes a second or more for this; a GET, milliseconds.
    body = b"metadata: {name: slow}\ndata:\n" + b"".join(
        b"  k%05d: value\n" % i for i in range(20_000))
    answers: list[Answer] = []
    slow = threading.Thread(target=lambda: answers.append(  # slow indeed on a busy machine
        send(embedded_apiserver, method, path, body, content_type, read_timeout=120)))
    slow.start()
    try:
        wait_until(lambda: embedded_apiserver.journal.filter(method=method, resource="configmaps"),
                   what="the server received the YAML body")
        served = 0  # about 300 GETs here; 1 to 3 when the loop decodes the YAML itself
        while slow.is_alive():
            assert send(embedded_apiserver, "GET", "/api/v1/namespaces/default").status == 200
            served += 1
        assert served >= 20, "the GETs waited for the YAML body to be decoded"
    finally:
        slow.join(timeout=120)
    assert answers[0].status == 201
    assert len(answers[0].body["data"]) == 20_000


# -- media types the resource does not take -------------------------------------------------------

OBJECT_BODIES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
CUSTOM_OBJECT_BODIES = ("application/json", "application/yaml")  # CRs have no protobuf form
PATCHES = ("application/json-patch+json", MERGE, "application/strategic-merge-patch+json", APPLY)
CUSTOM_PATCHES = ("application/json-patch+json", MERGE, APPLY)


def unsupported_media_type(accepted: tuple[str, ...]) -> dict[str, Any]:
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the body of the request was in an unknown format - accepted media types "
                   f"include: {', '.join(accepted)}",
        "reason": "UnsupportedMediaType", "code": 415,
    }


@pytest.mark.parametrize(("method", "path", "content_type", "accepted"), [
    pytest.param("POST", CONFIGMAPS, "text/plain", OBJECT_BODIES, id="create"),
    pytest.param("PUT", f"{CONFIGMAPS}/x", "application/x-yaml", OBJECT_BODIES, id="update"),
    pytest.param("PATCH", f"{CONFIGMAPS}/x", JSON, PATCHES, id="patch-as-an-object"),
    pytest.param("PATCH", f"{CONFIGMAPS}/x", "text/plain; charset=utf-8", PATCHES,
                 id="patch-as-text"),
])
def test_a_body_in_a_media_type_a_built_in_does_not_take_is_415_naming_those_it_does(
    embedded_apiserver: EmbeddedApiServer, method: str, path: str, content_type: str,
    accepted: tuple[str, ...],
) -> None:
    before = send(embedded_apiserver, "POST", CONFIGMAPS, configmap("x", a="1")).body
    answer = send(embedded_apiserver, method, path, configmap("x", a="2"), content_type)
    assert (answer.status, answer.body) == (415, unsupported_media_type(accepted))
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/x").body == before


@pytest.mark.parametrize(("method", "name", "content_type", "accepted"), [
    pytest.param("POST", "", "application/vnd.kubernetes.protobuf", CUSTOM_OBJECT_BODIES,
                 id="create-as-protobuf"),
    pytest.param("PUT", "/b", "application/vnd.kubernetes.protobuf", CUSTOM_OBJECT_BODIES,
                 id="update-as-protobuf"),
    pytest.param("PUT", "/b", "text/plain", CUSTOM_OBJECT_BODIES, id="update"),
    pytest.param("PATCH", "/b", "application/strategic-merge-patch+json", CUSTOM_PATCHES,
                 id="strategic-merge-patch"),
    pytest.param("PATCH", "/b", "application/merge-patch+yaml", CUSTOM_PATCHES,
                 id="patch-in-an-unknown-type"),
])
def test_a_body_in_a_media_type_a_custom_resource_does_not_take_is_415_naming_those_it_does(
    embedded_apiserver: EmbeddedApiServer, blobs: str, method: str, name: str,
    content_type: str, accepted: tuple[str, ...],
) -> None:
    before = send(embedded_apiserver, "POST", blobs, blob("b", a="1")).body
    answer = send(embedded_apiserver, method, blobs + name, blob("b", a="2"), content_type)
    assert (answer.status, answer.body) == (415, unsupported_media_type(accepted))
    assert send(embedded_apiserver, "GET", f"{blobs}/b").body == before


def test_a_built_ins_body_that_says_protobuf_and_is_not_is_400_and_changes_nothing(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    answer = send(embedded_apiserver, "POST", CONFIGMAPS, configmap("x", a="1"),
                  "application/vnd.kubernetes.protobuf")
    assert (answer.status, answer.body["reason"]) == (400, "BadRequest")
    assert answer.message.startswith("error decoding protobuf: ")
    assert send(embedded_apiserver, "GET", CONFIGMAPS).body["items"] == []


def test_a_body_sent_without_a_media_type_is_json(embedded_apiserver: EmbeddedApiServer) -> None:
    answer = send(embedded_apiserver, "POST", CONFIGMAPS, configmap("x", a="1"), "")
    assert (answer.status, answer.body["data"]) == (201, {"a": "1"})
