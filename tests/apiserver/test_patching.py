"""The PATCH bodies of the embedded API server: merge, JSON, strategic merge, apply."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kopf_informers.testing.apiserver.registry._patching import (
    ApplyConflictError,
    PatchError,
    PatchTestFailedError,
    apply_patch,
    decode_apply_body,
    fields_v1,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

DIRECTIVE_PREFIXES = ("$patch", "$retainKeys", "$setElementOrder/", "$deleteFromPrimitiveList/")


def directives_in(value: Any) -> list[str]:
    """Every directive key anywhere in a JSON-like value."""
    if isinstance(value, dict):
        found = [key for key in value if key.startswith(DIRECTIVE_PREFIXES)]
        return found + [key for child in value.values() for key in directives_in(child)]
    if isinstance(value, list):
        return [key for child in value for key in directives_in(child)]
    return []


def deployment(*containers: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **metadata},
        "spec": {"replicas": 1, "template": {"spec": {"containers": list(containers)}}},
    }


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def pod_spec_patch(**spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


# --------------------------------------------------------------------------------------------
# Merge patch
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "patch", "expected"), [
    # The examples of RFC 7386, appendix A (those with an object patch).
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replaces-a-value"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="adds-a-key"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="null-deletes"),
    pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="null-deletes-one"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="scalar-replaces-list"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="list-replaces-scalar"),
    pytest.param({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}},
                 id="merges-nested"),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="replaces-lists"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="keeps-existing-nulls"),
    pytest.param([1, 2], {"a": "b", "c": None}, {"a": "b"}, id="non-object-target"),
    pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="new-nested-nulls"),
])
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


@pytest.mark.parametrize("patch", [
    pytest.param(["a"], id="list"),
    pytest.param("a", id="string"),
    pytest.param(None, id="null"),
])
def test_merge_patch_that_is_not_an_object_is_a_bad_request(patch: Any) -> None:
    with pytest.raises(PatchError) as excinfo:
        merge_patch({"a": 1}, patch)
    assert (excinfo.value.status, excinfo.value.reason) == (400, "BadRequest")


def test_merge_patch_does_not_mutate_or_alias_its_arguments() -> None:
    target = {"a": {"b": [1]}, "c": {"d": 1}}
    patch = {"a": {"x": {"y": 1}}, "c": None}
    target_copy, patch_copy = copy.deepcopy(target), copy.deepcopy(patch)
    result = merge_patch(target, patch)
    result["a"]["b"].append(2)
    result["a"]["x"]["y"] = 2
    assert (target, patch) == (target_copy, patch_copy)


def test_merge_patch_sharing_the_target_leaves_it_as_it_was() -> None:
    target = {"a": {"b": [1], "c": {"d": 1}}, "e": {"f": 1}}
    patch = {"a": {"c": {"x": 1}, "b": None}, "g": {"h": 1}}
    target_copy = copy.deepcopy(target)
    result = merge_patch(target, patch, share=True)
    assert result == merge_patch(target, patch)
    result["a"]["c"]["d"] = 2  # on the patch's path: new objects
    result["a"]["y"] = 1
    assert target == target_copy
    assert result["e"] is target["e"]  # off the path: shared


# --------------------------------------------------------------------------------------------
# JSON patch
# --------------------------------------------------------------------------------------------

OBJ = {"metadata": {"name": "x", "resourceVersion": "11", "finalizers": ["a", "b"]}}


@pytest.mark.parametrize(("ops", "expected"), [
    pytest.param([{"op": "add", "path": "/spec", "value": {"n": 1}}],
                 {**OBJ, "spec": {"n": 1}}, id="add"),
    pytest.param([{"op": "add", "path": "/metadata/finalizers/-", "value": "c"}],
                 {"metadata": {**OBJ["metadata"], "finalizers": ["a", "b", "c"]}},
                 id="add-to-list-end"),
    pytest.param([{"op": "remove", "path": "/metadata/finalizers/0"}],
                 {"metadata": {**OBJ["metadata"], "finalizers": ["b"]}}, id="remove-item"),
    pytest.param([{"op": "replace", "path": "/metadata/name", "value": "y"}],
                 {"metadata": {**OBJ["metadata"], "name": "y"}}, id="replace"),
    pytest.param([{"op": "test", "path": "/metadata/resourceVersion", "value": "11"},
                  {"op": "remove", "path": "/metadata/finalizers"}],
                 {"metadata": {"name": "x", "resourceVersion": "11"}}, id="kopf-test-remove"),
    pytest.param([{"op": "copy", "from": "/metadata/name", "path": "/n"},
                  {"op": "move", "from": "/n", "path": "/m"}],
                 {**OBJ, "m": "x"}, id="copy-move"),
    pytest.param([], OBJ, id="empty"),
])
def test_json_patch_applies_operations_in_order(ops: Any, expected: Any) -> None:
    assert json_patch(OBJ, ops) == expected


def test_json_patch_with_a_failed_test_is_422_and_names_the_values() -> None:
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "10"},
           {"op": "remove", "path": "/metadata/finalizers"}]
    with pytest.raises(PatchTestFailedError) as excinfo:
        json_patch(OBJ, ops)
    assert (excinfo.value.status, excinfo.value.reason) == (422, "Invalid")
    assert "/metadata/resourceVersion" in excinfo.value.message
    assert '"10"' in excinfo.value.message
    assert '"11"' in excinfo.value.message


def test_json_patch_testing_a_missing_path_is_a_failed_test() -> None:
    ops = [{"op": "test", "path": "/metadata/uid", "value": "u"}]
    with pytest.raises(PatchTestFailedError, match='doc is missing path: "/metadata/uid"'):
        json_patch(OBJ, ops)


@pytest.mark.parametrize("op", [
    pytest.param({"op": "remove", "path": "/metadata/labels"}, id="remove-missing"),
    pytest.param({"op": "replace", "path": "/spec/x", "value": 1}, id="replace-missing"),
    pytest.param({"op": "add", "path": "/spec/x", "value": 1}, id="add-under-missing"),
    pytest.param({"op": "move", "from": "/nope", "path": "/x"}, id="move-missing"),
    pytest.param({"op": "add", "path": "/metadata/finalizers/9", "value": 1}, id="out-of-list"),
    pytest.param({"op": "add", "path": "/metadata/name/x", "value": 1}, id="into-a-string"),
])
def test_json_patch_on_a_missing_path_is_422(op: dict[str, Any]) -> None:
    with pytest.raises(PatchError) as excinfo:
        json_patch(OBJ, [op])
    assert not isinstance(excinfo.value, PatchTestFailedError)
    assert (excinfo.value.status, excinfo.value.reason) == (422, "Invalid")


@pytest.mark.parametrize("ops", [
    pytest.param({"op": "add", "path": "/x", "value": 1}, id="not-a-list"),
    pytest.param("[]", id="a-string"),
    pytest.param(["add"], id="op-not-an-object"),
    pytest.param([{"op": "frobnicate", "path": "/x"}], id="unknown-op"),
    pytest.param([{"path": "/x", "value": 1}], id="no-op"),
    pytest.param([{"op": "add", "value": 1}], id="no-path"),
    pytest.param([{"op": "add", "path": "/x"}], id="no-value"),
    pytest.param([{"op": "move", "path": "/x"}], id="no-from"),
    pytest.param([{"op": "remove", "path": "metadata"}], id="pointer-without-slash"),
    pytest.param([{"op": "remove", "path": "/a~2b"}], id="bad-escape"),
])
def test_json_patch_that_is_malformed_is_a_bad_request(ops: Any) -> None:
    with pytest.raises(PatchError) as excinfo:
        json_patch(OBJ, ops)
    assert (excinfo.value.status, excinfo.value.reason) == (400, "BadRequest")


def test_json_patch_does_not_mutate_or_alias_its_arguments() -> None:
    target, value = copy.deepcopy(OBJ), {"deep": ["x"]}
    ops = [{"op": "add", "path": "/spec", "value": value},
           {"op": "remove", "path": "/metadata/finalizers/0"}]
    ops_copy = copy.deepcopy(ops)
    result = json_patch(target, ops)
    result["spec"]["deep"].append("y")
    assert target == OBJ
    assert ops == ops_copy


def test_json_patch_failing_midway_leaves_the_target_intact() -> None:
    target = copy.deepcopy(OBJ)
    ops = [{"op": "remove", "path": "/metadata/finalizers"},
           {"op": "test", "path": "/metadata/name", "value": "other"}]
    with pytest.raises(PatchTestFailedError):
        json_patch(target, ops)
    assert target == OBJ


def test_json_patch_copies_a_value_that_later_operations_change_apart() -> None:
    ops = [{"op": "copy", "from": "/metadata/finalizers", "path": "/spec"},
           {"op": "add", "path": "/spec/-", "value": "c"}]
    result = json_patch(OBJ, ops)
    assert result["spec"] == ["a", "b", "c"]
    assert result["metadata"]["finalizers"] == ["a", "b"]


@pytest.mark.parametrize(("count", "refused"), [
    pytest.param(10_000, False, id="10000"),
    pytest.param(10_001, True, id="10001"),
])
def test_json_patch_of_more_than_10000_operations_is_413_before_any_applies(
    count: int, refused: bool,
) -> None:
    ops = [{"op": "test", "path": "/metadata/name", "value": "x"}] * count
    if not refused:
        assert json_patch(OBJ, ops) == OBJ
        return
    with pytest.raises(PatchError) as e:
        json_patch(OBJ, [*ops[:-1], {"op": "unknown"}])  # refused before it is looked at
    assert (e.value.status, e.value.reason) == (413, "RequestEntityTooLarge")
    assert e.value.message == ("Request entity too large: The allowed maximum operations in a "
                               "JSON patch is 10000, got 10001")


def test_json_patch_copies_count_their_json_size_towards_3_mib_in_all() -> None:
    target = {"big": "x" * (1024 * 1024 - 2)}  # 1 MiB as JSON, with its quotes
    three = [{"op": "copy", "from": "/big", "path": f"/copy{i}"} for i in range(3)]
    assert set(json_patch(target, three)) == {"big", "copy0", "copy1", "copy2"}
    with pytest.raises(PatchError) as e:
        json_patch(target, [*three, {"op": "copy", "from": "/copy0", "path": "/copy3"}])
    assert (e.value.status, e.value.reason) == (422, "Invalid")
    assert e.value.message == ("Unable to complete the copy, the accumulated size increase of "
                               f"copy is {4 * 1024 * 1024}, exceeding the limit {3 * 1024 * 1024}")


def test_json_patch_copying_the_object_into_itself_stops_before_3_mib_are_copied() -> None:
    ops = [{"op": "copy", "from": "/metadata", "path": f"/metadata/x{i}"} for i in range(64)]
    with pytest.raises(PatchError) as e:  # unbounded: 2^64 times the metadata
        json_patch(OBJ, ops)
    assert e.value.status == 422
    assert e.value.message.startswith("Unable to complete the copy")


# --------------------------------------------------------------------------------------------
# Strategic merge patch: merge keys
# --------------------------------------------------------------------------------------------

def test_strategic_merge_merges_containers_by_name() -> None:
    target = deployment({"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"})
    patch = pod_spec_patch(containers=[{"name": "side", "image": "side:2"},
                                       {"name": "new", "image": "new:1"}])
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert containers_of(result) == [
        {"name": "app", "image": "app:1"},
        {"name": "side", "image": "side:2"},
        {"name": "new", "image": "new:1"},
    ]


@pytest.mark.parametrize("field", ["initContainers", "ephemeralContainers"])
def test_strategic_merge_merges_other_container_lists_by_name(field: str) -> None:
    target = {"spec": {field: [{"name": "a", "image": "a:1"}]}}
    patch = {"spec": {field: [{"name": "b", "image": "b:1"}]}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert [c["name"] for c in result["spec"][field]] == ["a", "b"]


def test_strategic_merge_merges_env_by_name() -> None:
    target = deployment({"name": "app", "env": [{"name": "A", "value": "1"},
                                                {"name": "B", "value": "2"}]})
    patch = pod_spec_patch(containers=[{"name": "app", "env": [{"name": "B", "value": "3"},
                                                               {"name": "C", "value": "4"}]}])
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert containers_of(result)[0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"},
    ]


def test_strategic_merge_merges_container_ports_by_container_port() -> None:
    target = {"spec": {"containers": [{"name": "app", "ports": [
        {"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]}]}}
    patch = {"spec": {"containers": [{"name": "app", "ports": [
        {"containerPort": 80, "name": "web"}, {"containerPort": 9090}]}]}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert result["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "web"},
        {"containerPort": 443, "name": "https"},
        {"containerPort": 9090},
    ]


def test_strategic_merge_merges_service_ports_by_port() -> None:
    target = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    patch = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}}
    result = strategic_merge_patch(target, patch, "Service")
    assert result["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443},
    ]


@pytest.mark.parametrize(("kind", "group", "prefix"), [
    pytest.param("Pod", "", ("spec",), id="pod"),
    pytest.param("Deployment", "apps", ("spec", "template", "spec"), id="deployment"),
    pytest.param("StatefulSet", "apps", ("spec", "template", "spec"), id="statefulset"),
    pytest.param("DaemonSet", "apps", ("spec", "template", "spec"), id="daemonset"),
    pytest.param("ReplicaSet", "apps", ("spec", "template", "spec"), id="replicaset"),
    pytest.param("Job", "batch", ("spec", "template", "spec"), id="job"),
    pytest.param("CronJob", "batch", ("spec", "jobTemplate", "spec", "template", "spec"),
                 id="cronjob"),
])
def test_strategic_merge_finds_pod_specs_where_each_kind_keeps_them(
    kind: str, group: str, prefix: tuple[str, ...],
) -> None:
    def nest(value: Any) -> dict[str, Any]:
        for key in reversed(prefix):
            value = {key: value}
        return value  # type: ignore[no-any-return]

    target = nest({"volumes": [{"name": "a", "emptyDir": {}}],
                   "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a"}]}]})
    patch = nest({"volumes": [{"name": "b", "emptyDir": {}}],
                  "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/b"}]}]})
    result = strategic_merge_patch(target, patch, kind, group)
    spec = result
    for key in prefix:
        spec = spec[key]
    assert [v["name"] for v in spec["volumes"]] == ["a", "b"]
    assert spec["containers"][0]["volumeMounts"] == [{"mountPath": "/a"}, {"mountPath": "/b"}]


def test_strategic_merge_merges_conditions_by_type() -> None:
    target = {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                        {"type": "Progressing", "status": "True"}]}}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"}, {"type": "Progressing", "status": "True"},
    ]


def test_strategic_merge_unites_finalizers_as_a_set() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"finalizers": ["b", "c"]}}
    result = strategic_merge_patch(target, patch, "ConfigMap")
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]


def test_strategic_merge_merges_owner_references_by_uid() -> None:
    target = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "controller": True}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "1", "controller": None},
                                              {"uid": "2", "name": "b"}]}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "a"}, {"uid": "2", "name": "b"},
    ]


@pytest.mark.parametrize(("patch_spec", "expected_spec"), [
    pytest.param({"tolerations": [{"key": "b"}]},
                 {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["a"]}]},
                 id="pod-tolerations"),
    pytest.param({"containers": [{"name": "c", "args": ["b"]}]},
                 {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["b"]}]},
                 id="container-args"),
])
def test_strategic_merge_replaces_lists_without_a_merge_key(
    patch_spec: dict[str, Any], expected_spec: dict[str, Any],
) -> None:
    target = {"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["a"]}]}}
    result = strategic_merge_patch(target, {"spec": patch_spec}, "Pod")
    assert result == {"spec": expected_spec}


def test_strategic_merge_merges_maps_and_deletes_nulls() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    patch = {"metadata": {"labels": {"b": None, "c": "3"}, "annotations": None}}
    result = strategic_merge_patch(target, patch, "ConfigMap")
    assert result == {"metadata": {"labels": {"a": "1", "c": "3"}}}


def test_strategic_merge_of_a_custom_kind_behaves_as_a_merge_patch() -> None:
    target = {"metadata": {"finalizers": ["a"]},
              "spec": {"items": [{"name": "a"}], "conditions": [{"type": "X"}]}}
    patch = {"metadata": {"finalizers": ["b"]},
             "spec": {"items": [{"name": "b"}], "conditions": [{"type": "Y"}], "x": None}}
    result = strategic_merge_patch(target, patch, "Widget", "example.com")
    assert result == merge_patch(target, patch)


def test_strategic_merge_of_a_custom_kind_still_obeys_directives() -> None:
    target = {"spec": {"a": {"x": 1, "y": 2}, "b": {"z": 1}}}
    patch = {"spec": {"a": {"$patch": "replace", "w": 0}, "b": {"$patch": "delete"}}}
    result = strategic_merge_patch(target, patch, "Widget", "example.com")
    assert result == {"spec": {"a": {"w": 0}}}


# --------------------------------------------------------------------------------------------
# Strategic merge patch: directives
# --------------------------------------------------------------------------------------------

def test_strategic_merge_deletes_a_container_by_its_key() -> None:
    target = deployment({"name": "app"}, {"name": "side"})
    patch = pod_spec_patch(containers=[{"name": "side", "$patch": "delete"}])
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert containers_of(result) == [{"name": "app"}]


def test_strategic_merge_replaces_a_map_with_patch_replace() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert result["metadata"]["labels"] == {"c": "3"}


def test_strategic_merge_deletes_a_map_with_patch_delete() -> None:
    target = {"metadata": {"name": "x", "labels": {"a": "1"}}}
    patch = {"metadata": {"labels": {"$patch": "delete"}}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert result == {"metadata": {"name": "x"}}


def test_strategic_merge_replaces_a_list_with_a_replace_marker() -> None:
    target = deployment({"name": "app", "image": "app:1"}, {"name": "side"})
    patch = pod_spec_patch(containers=[{"$patch": "replace"}, {"name": "only", "image": "o"}])
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert containers_of(result) == [{"name": "only", "image": "o"}]


def test_strategic_merge_keeps_only_retained_keys() -> None:
    target = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_strategic_merge_with_content_outside_retained_keys_is_422() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}
    with pytest.raises(PatchError) as excinfo:
        strategic_merge_patch({}, patch, "Deployment", "apps")
    assert (excinfo.value.status, excinfo.value.reason) == (422, "Invalid")


def test_strategic_merge_deletes_from_a_primitive_list() -> None:
    target = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert result["metadata"]["finalizers"] == ["a", "c"]


def test_strategic_merge_orders_containers_as_set_element_order_says() -> None:
    target = deployment({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = pod_spec_patch(**{
        "$setElementOrder/containers": [{"name": "c"}, {"name": "d"}, {"name": "a"}],
        "containers": [{"name": "d"}],
    })
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert [c["name"] for c in containers_of(result)] == ["c", "d", "a", "b"]


def test_strategic_merge_orders_a_primitive_list_as_set_element_order_says() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}}
    result = strategic_merge_patch(target, patch, "Pod")
    assert result["metadata"]["finalizers"] == ["b", "a"]


def test_strategic_merge_never_stores_a_directive() -> None:
    target = deployment({"name": "app", "env": [{"name": "A"}]}, finalizers=["f"])
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["f"], "$patch": "merge",
                     "labels": {"$patch": "replace", "a": "b"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "new"}, {"name": "app"}],
            "$retainKeys": ["containers", "tolerations"],
            "tolerations": [{"$patch": "replace"}, {"key": "k", "$patch": "merge"}],
            "containers": [
                {"name": "app", "env": [{"$patch": "replace"}, {"name": "B"}]},
                {"name": "new", "resources": {"$patch": "replace", "limits": {"cpu": "1"}},
                 "env": [{"name": "X", "$patch": "delete"}, {"name": "Y"}],
                 "$setElementOrder/env": [{"name": "Y"}]},
            ],
        }}},
    }
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    assert directives_in(result) == []
    assert containers_of(result) == [
        {"name": "new", "resources": {"limits": {"cpu": "1"}}, "env": [{"name": "Y"}]},
        {"name": "app", "env": [{"name": "B"}]},
    ]
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "k"}]


def test_strategic_merge_does_not_mutate_or_alias_its_arguments() -> None:
    target = deployment({"name": "app", "env": [{"name": "A"}]}, {"name": "side"},
                        finalizers=["a"], labels={"x": "y"})
    patch = {
        "metadata": {"finalizers": ["b"], "labels": {"$patch": "replace", "z": "1"}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "side", "$patch": "delete"},
            {"name": "app", "env": [{"name": "B", "valueFrom": {"x": {"y": 1}}}]},
        ]}}},
    }
    target_copy, patch_copy = copy.deepcopy(target), copy.deepcopy(patch)
    result = strategic_merge_patch(target, patch, "Deployment", "apps")
    containers_of(result)[0]["env"][1]["valueFrom"]["x"]["y"] = 2
    result["metadata"]["finalizers"].append("c")
    assert target == target_copy
    assert patch == patch_copy


@pytest.mark.parametrize("patch", [
    pytest.param(["a"], id="not-an-object"),
    pytest.param({"metadata": {"labels": {"$patch": "explode"}}}, id="unknown-patch-type"),
    pytest.param(pod_spec_patch(containers=[{"image": "x"}]), id="item-without-merge-key"),
    pytest.param(pod_spec_patch(containers=["app"]), id="item-not-an-object"),
    pytest.param({"metadata": {"finalizers": [{"a": 1}]}}, id="object-in-primitive-list"),
    pytest.param({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
                 id="delete-from-list-not-a-list"),
    pytest.param(pod_spec_patch(**{"$setElementOrder/containers": "a"}),
                 id="element-order-not-a-list"),
    pytest.param({"spec": {"$retainKeys": "replicas"}}, id="retain-keys-not-a-list"),
])
def test_strategic_merge_that_is_malformed_is_a_bad_request(patch: Any) -> None:
    target = deployment({"name": "app"}, finalizers=["a"])
    with pytest.raises(PatchError) as excinfo:
        strategic_merge_patch(target, patch, "Deployment", "apps")
    assert (excinfo.value.status, excinfo.value.reason) == (400, "BadRequest")


# --------------------------------------------------------------------------------------------
# Server-side apply
# --------------------------------------------------------------------------------------------

NOW1, NOW2 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"


def applied_deployment(image: str, **labels: str) -> dict[str, Any]:
    obj = deployment({"name": "app", "image": image, "ports": [{"containerPort": 80}]})
    if labels:
        obj["metadata"]["labels"] = labels
    return obj


def own_entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = obj["metadata"]["managedFields"]
    [entry] = [entry for entry in entries if entry["manager"] == manager]
    return entry


def test_apply_creates_the_object_when_there_is_none() -> None:
    applied = applied_deployment("app:1", app="web")
    result = apply_patch(None, applied, manager="kubectl", kind="Deployment", group="apps",
                         now=NOW1)
    managed = result["metadata"].pop("managedFields")
    assert result == applied
    assert [entry["manager"] for entry in managed] == ["kubectl"]


def test_apply_records_a_managed_fields_entry_in_fields_v1_format() -> None:
    applied = applied_deployment("app:1", app="web")
    applied["metadata"]["finalizers"] = ["example.com/x"]
    applied["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a"]
    result = apply_patch(None, applied, manager="kubectl", kind="Deployment", group="apps",
                         now=NOW1)
    assert own_entry(result, "kubectl") == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": NOW1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {
                "f:finalizers": {'v:"example.com/x"': {}},
                "f:labels": {"f:app": {}},
            },
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"app"}': {
                    ".": {},
                    "f:args": {},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {'k:{"containerPort":80}': {".": {}, "f:containerPort": {}}},
                }}}},
            },
        },
    }


def test_apply_merges_into_the_live_object() -> None:
    live = apply_patch(None, applied_deployment("app:1"), manager="kubectl",
                       kind="Deployment", group="apps", now=NOW1)
    live["status"] = {"replicas": 1}
    live["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "s"})
    live["metadata"]["resourceVersion"] = "5"
    result = apply_patch(live, applied_deployment("app:2"), manager="kubectl",
                         kind="Deployment", group="apps", now=NOW2)
    assert containers_of(result) == [
        {"name": "app", "image": "app:2", "ports": [{"containerPort": 80}]},
        {"name": "side", "image": "s"},
    ]
    assert result["status"] == {"replicas": 1}
    assert result["metadata"]["resourceVersion"] == "5"
    assert own_entry(result, "kubectl")["time"] == NOW2


def test_apply_removes_fields_the_manager_stopped_applying_but_keeps_others_fields() -> None:
    first = applied_deployment("app:1", app="web", tier="front")
    first["metadata"]["finalizers"] = ["example.com/x"]
    live = apply_patch(None, first, manager="mine", kind="Deployment", group="apps", now=NOW1)
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "web", "labels": {"team": "t"}}, "spec": {"paused": True}}
    live = apply_patch(live, other, manager="theirs", kind="Deployment", group="apps", now=NOW1)

    second = deployment({"name": "app", "image": "app:2"})
    second["metadata"]["labels"] = {"app": "web"}
    result = apply_patch(live, second, manager="mine", kind="Deployment", group="apps",
                         now=NOW2)

    assert result["metadata"]["labels"] == {"app": "web", "team": "t"}
    assert "finalizers" not in result["metadata"]
    assert containers_of(result) == [{"name": "app", "image": "app:2"}]
    assert result["spec"]["paused"] is True
    assert [e["manager"] for e in result["metadata"]["managedFields"]] == ["theirs", "mine"]
    assert own_entry(result, "theirs") == own_entry(live, "theirs")


def test_apply_keeps_a_field_another_manager_also_owns() -> None:
    live = apply_patch(None, applied_deployment("app:1", app="web"), manager="mine",
                       kind="Deployment", group="apps", now=NOW1)
    live["metadata"]["managedFields"].append({
        "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
        "time": NOW1, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
    })
    result = apply_patch(live, applied_deployment("app:1"), manager="mine",
                         kind="Deployment", group="apps", now=NOW2)
    assert result["metadata"]["labels"] == {"app": "web"}


def test_apply_removes_an_item_of_a_keyed_list_with_all_its_fields() -> None:
    live = apply_patch(None, applied_deployment("app:1"), manager="mine",
                       kind="Deployment", group="apps", now=NOW1)
    result = apply_patch(live, deployment({"name": "app", "image": "app:1"}), manager="mine",
                         kind="Deployment", group="apps", now=NOW2)
    assert containers_of(result) == [{"name": "app", "image": "app:1"}]


def test_apply_does_not_mutate_its_arguments() -> None:
    live = apply_patch(None, applied_deployment("app:1", app="web"), manager="mine",
                       kind="Deployment", group="apps", now=NOW1)
    applied = applied_deployment("app:2")
    live_copy, applied_copy = copy.deepcopy(live), copy.deepcopy(applied)
    apply_patch(live, applied, manager="mine", kind="Deployment", group="apps", now=NOW2)
    assert (live, applied) == (live_copy, applied_copy)


def test_apply_that_owns_nothing_records_no_entry() -> None:
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    result = apply_patch(None, applied, manager="m", kind="ConfigMap", group="", now=NOW1)
    assert result == applied


def test_apply_with_managed_fields_in_the_configuration_is_a_bad_request() -> None:
    applied = applied_deployment("app:1")
    applied["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(PatchError) as excinfo:
        apply_patch(None, applied, manager="m", kind="Deployment", group="apps", now=NOW1)
    assert excinfo.value.status == 400


@pytest.mark.parametrize("applied", [
    pytest.param(["a"], id="not-an-object"),
    pytest.param(deployment({"image": "nameless"}), id="item-without-merge-key"),
])
def test_apply_that_is_malformed_is_a_bad_request(applied: Any) -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_patch(None, applied, manager="m", kind="Deployment", group="apps", now=NOW1)
    assert (excinfo.value.status, excinfo.value.reason) == (400, "BadRequest")


def test_apply_changing_a_field_another_manager_owns_is_a_conflict() -> None:
    live = apply_patch(None, applied_deployment("app:1", app="web"), manager="mine",
                       kind="Deployment", group="apps", now=NOW1)
    with pytest.raises(ApplyConflictError) as excinfo:
        apply_patch(live, applied_deployment("app:2", app="api"), manager="ci",
                    kind="Deployment", group="apps", now=NOW2)
    error = excinfo.value
    assert (error.status, error.reason) == (409, "Conflict")
    assert error.message == (
        'Apply failed with 2 conflicts: conflicts with "mine":\n'
        "- .metadata.labels.app\n"
        '- .spec.template.spec.containers[name="app"].image'
    )
    assert [cause["field"] for cause in error.causes] == [
        ".metadata.labels.app", '.spec.template.spec.containers[name="app"].image']
    assert {cause["reason"] for cause in error.causes} == {"FieldManagerConflict"}


def test_apply_of_the_same_values_shares_the_fields_without_a_conflict() -> None:
    live = apply_patch(None, applied_deployment("app:1"), manager="mine",
                       kind="Deployment", group="apps", now=NOW1)
    result = apply_patch(live, applied_deployment("app:1"), manager="ci",
                         kind="Deployment", group="apps", now=NOW2)
    assert own_entry(result, "mine")["fieldsV1"] == own_entry(result, "ci")["fieldsV1"]


def test_forced_apply_takes_the_conflicting_fields_from_their_managers() -> None:
    live = apply_patch(None, applied_deployment("app:1", app="web"), manager="mine",
                       kind="Deployment", group="apps", now=NOW1)
    labels_only = {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "labels": {"app": "api"}}}
    result = apply_patch(live, labels_only, manager="ci", kind="Deployment", group="apps",
                         now=NOW2, force=True)
    assert result["metadata"]["labels"] == {"app": "api"}
    assert "f:metadata" not in own_entry(result, "mine")["fieldsV1"]
    assert own_entry(result, "ci")["fieldsV1"] == {"f:metadata": {"f:labels": {"f:app": {}}}}


def test_forced_apply_drops_a_manager_left_with_no_fields() -> None:
    labels = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "x", "labels": {"a": "1"}}}
    live = apply_patch(None, labels, manager="mine", kind="ConfigMap", group="", now=NOW1)
    changed = copy.deepcopy(labels)
    changed["metadata"]["labels"]["a"] = "2"
    result = apply_patch(live, changed, manager="ci", kind="ConfigMap", group="", now=NOW2,
                         force=True)
    assert [e["manager"] for e in result["metadata"]["managedFields"]] == ["ci"]


@pytest.mark.parametrize(("obj", "kind", "group", "expected"), [
    pytest.param({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "x", "namespace": "n", "labels": {"a": "b"}},
                  "data": {"k": "v"}},
                 "ConfigMap", "",
                 {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:a": {}}}},
                 id="identity-fields-are-not-owned"),
    pytest.param({"spec": {"items": [{"name": "a"}], "empty": {}, "gone": None}},
                 "Widget", "example.com", {"f:spec": {"f:items": {}}},
                 id="custom-lists-are-atomic"),
    pytest.param({"metadata": {"ownerReferences": [{"uid": "u", "name": "o"}]}},
                 "Widget", "example.com",
                 {"f:metadata": {"f:ownerReferences": {'k:{"uid":"u"}': {
                     ".": {}, "f:name": {}, "f:uid": {}}}}},
                 id="custom-metadata-is-typed"),
    pytest.param({"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                 "Pod", "",
                 {"f:status": {"f:conditions": {'k:{"type":"Ready"}': {
                     ".": {}, "f:status": {}, "f:type": {}}}}},
                 id="conditions-by-type"),
])
def test_fields_v1_names_the_fields_of_an_object(
    obj: dict[str, Any], kind: str, group: str, expected: dict[str, Any],
) -> None:
    assert fields_v1(obj, kind, group) == expected


# --------------------------------------------------------------------------------------------
# Apply bodies
# --------------------------------------------------------------------------------------------

def test_apply_body_decodes_yaml() -> None:
    raw = b"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: x
  annotations:
    created: 2024-01-01T00:00:00Z
data:
  n: "1"
"""
    assert decode_apply_body(raw) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "annotations": {"created": "2024-01-01T00:00:00Z"}},
        "data": {"n": "1"},
    }


def test_apply_body_turns_yaml_keys_into_strings() -> None:
    assert decode_apply_body(b"data:\n  2: a\n  true: b\n") == {"data": {"2": "a", "true": "b"}}


def test_apply_body_decodes_json() -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    assert decode_apply_body(json.dumps(body).encode()) == body


@pytest.mark.parametrize("raw", [
    pytest.param(b"a: [", id="broken-yaml"),
    pytest.param(b"- a\n- b\n", id="a-list"),
    pytest.param(b"", id="empty"),
    pytest.param(b"a: 1\n---\nb: 2\n", id="two-documents"),
    pytest.param(b"\xff\xfe\xfa", id="not-text"),
])
def test_apply_body_that_is_not_one_object_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(PatchError) as excinfo:
        decode_apply_body(raw)
    assert (excinfo.value.status, excinfo.value.reason) == (400, "BadRequest")
