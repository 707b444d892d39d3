"""Tables for ``kubectl get``: columns and cells as kube-apiserver 1.32 renders them."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from kopf_informers.testing.apiserver.endpoints._tables import (
    evaluate_jsonpath,
    human_duration,
    render_table,
    table_for_list,
    table_for_object,
)
from kopf_informers.testing.apiserver.registry._builtins import BUILTIN_RESOURCES
from kopf_informers.testing.apiserver.registry._resources import ResourceInfo

NOW = datetime.datetime(2026, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)


def _ago(**delta: float) -> str:
    return (NOW - datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _builtin(group: str, plural: str) -> ResourceInfo:
    [resource] = [r for r in BUILTIN_RESOURCES if (r.group, r.plural) == (group, plural)]
    return resource


def _custom(*columns: dict[str, Any]) -> ResourceInfo:
    return ResourceInfo(group="example.com", version="v1", plural="widgets", kind="Widget",
                        singular="widget", namespaced=True, custom=True, printer_columns=columns)


def _row(resource: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The cells of one object, keyed by column name."""
    table = render_table(resource, [obj], now=NOW)
    names = [column["name"] for column in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


def _meta(name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": _ago(seconds=30), **extra}


# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("delta", "expected"), [
    pytest.param(datetime.timedelta(seconds=-5), "<invalid>", id="future-beyond-skew"),
    pytest.param(datetime.timedelta(seconds=-1.5), "0s", id="future-within-skew"),
    pytest.param(datetime.timedelta(0), "0s", id="now"),
    pytest.param(datetime.timedelta(seconds=1.9), "1s", id="truncated"),
    pytest.param(datetime.timedelta(seconds=119), "119s", id="seconds-up-to-2m"),
    pytest.param(datetime.timedelta(minutes=2), "2m", id="2m"),
    pytest.param(datetime.timedelta(minutes=2, seconds=5), "2m5s", id="minutes-and-seconds"),
    pytest.param(datetime.timedelta(minutes=9, seconds=59), "9m59s", id="just-under-10m"),
    pytest.param(datetime.timedelta(minutes=10, seconds=30), "10m", id="10m-drops-seconds"),
    pytest.param(datetime.timedelta(minutes=179), "179m", id="minutes-up-to-3h"),
    pytest.param(datetime.timedelta(hours=3), "3h", id="3h"),
    pytest.param(datetime.timedelta(hours=3, minutes=5), "3h5m", id="hours-and-minutes"),
    pytest.param(datetime.timedelta(hours=8, minutes=5), "8h", id="8h-drops-minutes"),
    pytest.param(datetime.timedelta(hours=47), "47h", id="hours-up-to-2d"),
    pytest.param(datetime.timedelta(days=2), "2d", id="2d"),
    pytest.param(datetime.timedelta(days=2, hours=1), "2d1h", id="days-and-hours"),
    pytest.param(datetime.timedelta(days=8, hours=1), "8d", id="8d-drops-hours"),
    pytest.param(datetime.timedelta(days=729), "729d", id="days-up-to-2y"),
    pytest.param(datetime.timedelta(days=730), "2y", id="2y"),
    pytest.param(datetime.timedelta(days=731), "2y1d", id="years-and-days"),
    pytest.param(datetime.timedelta(days=365 * 8 + 10), "8y", id="8y-drops-days"),
])
def test_ages_read_like_kubectl_ages(delta: datetime.timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


# ------------------------------------------------------------------------------------------------

DOC: dict[str, Any] = {
    "metadata": {"name": "w", "annotations": {"example.com/owner": "alice"}},
    "spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}], "map": {"a": 1, "b": 2}},
    "status": {"conditions": [
        {"type": "Synced", "status": "False", "count": 1},
        {"type": "Ready", "status": "True", "count": 2},
    ]},
}


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(".spec.replicas", [3], id="field"),
    pytest.param("{.spec.replicas}", [3], id="braces"),
    pytest.param(".spec.missing", [], id="missing"),
    pytest.param(".spec.replicas.deeper", [], id="through-a-scalar"),
    pytest.param(".spec.ports[0].port", [80], id="index"),
    pytest.param(".spec.ports[-1].port", [443], id="negative-index"),
    pytest.param(".spec.ports[5].port", [], id="index-out-of-range"),
    pytest.param(".spec.ports[*].port", [80, 443], id="wildcard"),
    pytest.param(".spec.map.*", [1, 2], id="map-wildcard"),
    pytest.param(".metadata.annotations.example\\.com/owner", ["alice"], id="escaped-dot"),
    pytest.param(".metadata.annotations['example.com/owner']", ["alice"], id="quoted-key"),
    pytest.param('.status.conditions[?(@.type=="Ready")].status', ["True"], id="filter-eq"),
    pytest.param(".status.conditions[?(@.type=='Ready')].status", ["True"], id="single-quotes"),
    pytest.param('.status.conditions[?(@.type!="Ready")].type', ["Synced"], id="filter-ne"),
    pytest.param(".status.conditions[?(@.count==2)].type", ["Ready"], id="filter-number"),
    pytest.param(".status.conditions[?(@.count)].type", ["Synced", "Ready"], id="filter-exists"),
    pytest.param('.status.conditions[?(@.count=="2")].type', [], id="no-string-number-coercion"),
])
def test_jsonpath_finds_what_kubernetes_jsonpath_finds(path: str, expected: list[Any]) -> None:
    assert evaluate_jsonpath(DOC, path) == expected


@pytest.mark.parametrize("path", [
    pytest.param("..name", id="recursive-descent"),
    pytest.param(".spec.ports[0:1]", id="slice"),
    pytest.param(".status.conditions[?(@.count>1)]", id="comparison"),
    pytest.param("spec.replicas", id="no-leading-dot"),
])
def test_jsonpath_rejects_what_it_does_not_support(path: str) -> None:
    with pytest.raises(ValueError, match="Unsupported JSONPath"):
        evaluate_jsonpath(DOC, path)


# ------------------------------------------------------------------------------------------------

def test_a_custom_resource_without_columns_gets_name_and_a_date_age() -> None:
    table = render_table(_custom(), [{"metadata": _meta("w")}], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"), ("Age", "date")]
    assert table["rows"][0]["cells"] == ["w", "30s"]


def test_a_custom_resource_with_columns_gets_no_extra_age_column() -> None:
    resource = _custom({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"})
    table = render_table(resource, [{"metadata": _meta("w"), "spec": {"replicas": 2}}], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Replicas"]
    assert table["rows"][0]["cells"] == ["w", 2]


def test_custom_column_definitions_carry_type_format_priority_and_description() -> None:
    resource = _custom(
        {"name": "Owner", "type": "string", "format": "email", "priority": 1,
         "jsonPath": ".spec.owner", "description": "Who owns it."},
        {"name": "Size", "type": "number", "jsonPath": ".spec.size"},
    )
    owner, size = render_table(resource, [], now=NOW)["columnDefinitions"][1:]
    assert owner == {"name": "Owner", "type": "string", "format": "email", "priority": 1,
                     "description": "Who owns it."}
    assert size == {"name": "Size", "type": "number", "format": "", "priority": 0,
                    "description": "Custom resource definition column (in JSONPath format): "
                                   ".spec.size"}


@pytest.mark.parametrize(("type_", "value", "expected"), [
    pytest.param("integer", 3, 3, id="integer"),
    pytest.param("integer", 3.7, 3, id="integer-from-float"),
    pytest.param("integer", "3", None, id="integer-from-string"),
    pytest.param("integer", True, None, id="integer-from-bool"),
    pytest.param("number", 3, 3.0, id="number-from-int"),
    pytest.param("number", 0.5, 0.5, id="number"),
    pytest.param("boolean", True, True, id="boolean"),
    pytest.param("boolean", "true", None, id="boolean-from-string"),
    pytest.param("string", "text", "text", id="string"),
    pytest.param("string", 42, "42", id="string-from-int"),
    pytest.param("string", 2.5, "2.5", id="string-from-float"),
    pytest.param("string", 1e6, "1e+06", id="string-from-big-float"),
    pytest.param("string", False, "false", id="string-from-bool"),
    pytest.param("string", {"a": [1, "x"]}, '{"a":[1,"x"]}', id="string-from-map"),
    pytest.param("string", ["a", "b"], '["a","b"]', id="string-from-list"),
    pytest.param("string", None, None, id="null"),
    pytest.param("date", _ago(minutes=5), "5m", id="date"),
    pytest.param("date", "yesterday", "<invalid>", id="date-invalid"),
    pytest.param("date", 12345, None, id="date-from-number"),
])
def test_custom_cells_are_typed_like_the_real_servers(type_: str, value: Any, expected: Any,
                                                      ) -> None:
    resource = _custom({"name": "Value", "type": type_, "jsonPath": ".spec.value"})
    cell = _row(resource, {"metadata": _meta(), "spec": {"value": value}})["Value"]
    assert cell == expected
    assert type(cell) is type(expected)


def test_custom_cells_are_none_for_missing_values_and_unsupported_paths() -> None:
    resource = _custom(
        {"name": "Missing", "type": "string", "jsonPath": ".spec.missing"},
        {"name": "Odd", "type": "string", "jsonPath": "..name"},
    )
    row = _row(resource, {"metadata": _meta(), "spec": {}})
    assert row["Missing"] is None
    assert row["Odd"] is None


def test_custom_cells_show_only_the_first_match() -> None:
    resource = _custom({"name": "Port", "type": "integer", "jsonPath": ".spec.ports[*].port"})
    row = _row(resource, {"metadata": _meta(), "spec": {"ports": [{"port": 80}, {"port": 90}]}})
    assert row["Port"] == 80


# ------------------------------------------------------------------------------------------------

def test_metadata_is_included_as_partial_object_metadata_by_default() -> None:
    obj = {"metadata": _meta("a", labels={"x": "y"}), "data": {"k": "v"}}
    [row] = render_table(_builtin("", "configmaps"), [obj], now=NOW)["rows"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}


def test_the_whole_object_is_included_on_request() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("a"), "data": {"k": "v"}}
    [row] = render_table(_builtin("", "configmaps"), [obj], include_object="Object",
                         now=NOW)["rows"]
    assert row["object"] == obj


def test_no_object_is_included_on_request() -> None:
    [row] = render_table(_builtin("", "configmaps"), [{"metadata": _meta()}],
                         include_object="None", now=NOW)["rows"]
    assert "object" not in row


def test_an_unknown_include_object_is_rejected() -> None:
    with pytest.raises(ValueError, match="includeObject"):
        render_table(_builtin("", "configmaps"), [], include_object="All", now=NOW)


def test_a_list_table_keeps_the_order_and_the_list_metadata() -> None:
    objs = [{"metadata": _meta(name)} for name in ("b", "a", "c")]
    table = table_for_list(_builtin("", "configmaps"), objs, now=NOW,
                           list_meta={"resourceVersion": "7", "continue": "t"})
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "7", "continue": "t"}
    assert [row["cells"][0] for row in table["rows"]] == ["b", "a", "c"]


def test_an_object_table_has_one_row_and_the_objects_resource_version() -> None:
    obj = {"metadata": _meta("a", resourceVersion="42")}
    table = table_for_object(_builtin("", "configmaps"), obj, now=NOW)
    assert table["metadata"] == {"resourceVersion": "42"}
    assert len(table["rows"]) == 1


def test_rendering_does_not_change_the_objects() -> None:
    obj = {"metadata": _meta("a"), "spec": {"containers": [{"name": "c", "image": "i"}]}}
    snapshot = repr(obj)
    render_table(_builtin("", "pods"), [obj], include_object="Object", now=NOW)
    assert repr(obj) == snapshot


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.name) for r in BUILTIN_RESOURCES])
def test_every_built_in_renders_one_cell_per_column_even_for_a_bare_object(
        resource: ResourceInfo) -> None:
    table = render_table(resource, [{"metadata": {"name": "bare"}}], now=NOW)
    columns = table["columnDefinitions"]
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in columns)
    assert len(table["rows"][0]["cells"]) == len(columns)
    assert [c["name"] for c in columns].count("Name") == 1


def test_built_ins_without_their_own_printer_show_name_and_age() -> None:
    row = _row(_builtin("rbac.authorization.k8s.io", "roles"), {"metadata": _meta("r")})
    assert row == {"Name": "r", "Age": "30s"}


def test_a_missing_creation_timestamp_shows_as_unknown() -> None:
    assert _row(_builtin("", "configmaps"), {"metadata": {"name": "a"}})["Age"] == "<unknown>"


# ------------------------------------------------------------------------------------------------

def _pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": _meta("p"),
        "spec": {"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": status,
    }


def _running(name: str, *, ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {}},
            **extra}


@pytest.mark.parametrize(("pod", "ready", "status", "restarts"), [
    pytest.param(_pod(phase="Pending"), "0/2", "Pending", "0", id="pending"),
    pytest.param(_pod(phase="Running", containerStatuses=[_running("a"), _running("b")]),
                 "2/2", "Running", "0", id="running"),
    pytest.param(_pod(phase="Running", containerStatuses=[
        _running("a"),
        {"name": "b", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": _ago(minutes=3)}}},
    ]), "1/2", "CrashLoopBackOff", "4 (3m ago)", id="crash-loop"),
    pytest.param(_pod(phase="Running", containerStatuses=[
        _running("a"), {"name": "b", "state": {"terminated": {"exitCode": 137}}},
    ]), "1/2", "ExitCode:137", "0", id="terminated-without-reason"),
    pytest.param(_pod(phase="Running", containerStatuses=[
        {"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        _running("b"),
    ], conditions=[{"type": "Ready", "status": "False"}]), "1/2", "NotReady", "0",
        id="completed-with-a-runner-is-not-ready"),
    pytest.param(_pod(phase="Succeeded", reason="Evicted"), "0/2", "Evicted", "0",
                 id="pod-reason-wins"),
    pytest.param(_pod(phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
        "0/2", "SchedulingGated", "0", id="scheduling-gated"),
])
def test_pods_show_readiness_status_and_restarts(pod: dict[str, Any], ready: str, status: str,
                                                 restarts: str) -> None:
    row = _row(_builtin("", "pods"), pod)
    assert (row["Ready"], row["Status"], row["Restarts"]) == (ready, status, restarts)


def test_pods_show_init_progress_while_initialising() -> None:
    pod = _pod(phase="Pending", initContainerStatuses=[
        {"name": "setup", "state": {"terminated": {"exitCode": 0}}},
        {"name": "migrate", "state": {"running": {}}},
    ])
    pod["spec"]["initContainers"] = [{"name": "setup"}, {"name": "migrate"}]
    assert _row(_builtin("", "pods"), pod)["Status"] == "Init:1/2"


def test_pods_show_a_failed_init_container() -> None:
    pod = _pod(phase="Pending", initContainerStatuses=[
        {"name": "setup", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}])
    pod["spec"]["initContainers"] = [{"name": "setup"}]
    assert _row(_builtin("", "pods"), pod)["Status"] == "Init:Error"


def test_pods_count_ready_sidecars_as_containers() -> None:
    pod = _pod(phase="Running", conditions=[{"type": "Initialized", "status": "True"}],
               initContainerStatuses=[_running("proxy", started=True, restarts=1)],
               containerStatuses=[_running("a"), _running("b")])
    pod["spec"]["initContainers"] = [{"name": "proxy", "restartPolicy": "Always"}]
    row = _row(_builtin("", "pods"), pod)
    assert (row["Ready"], row["Status"], row["Restarts"]) == ("3/3", "Running", "1")


def test_pods_being_deleted_show_terminating() -> None:
    pod = _pod(phase="Running", containerStatuses=[_running("a"), _running("b")])
    pod["metadata"]["deletionTimestamp"] = _ago(seconds=1)
    assert _row(_builtin("", "pods"), pod)["Status"] == "Terminating"


def test_pods_show_wide_columns() -> None:
    pod = _pod(phase="Running", podIPs=[{"ip": "10.0.0.7"}], podIP="10.0.0.7")
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}]
    row = _row(_builtin("", "pods"), pod)
    assert (row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"]) == (
        "10.0.0.7", "node-1", "<none>", "0/1")


def test_deployments_show_ready_out_of_desired() -> None:
    deployment = {
        "metadata": _meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "n", "image": "nginx"},
                                                      {"name": "s", "image": "busybox"}]}}},
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }
    assert _row(_builtin("apps", "deployments"), deployment) == {
        "Name": "web", "Ready": "1/3", "Up-to-date": 2, "Available": 1, "Age": "30s",
        "Containers": "n,s", "Images": "nginx,busybox", "Selector": "app=web"}


def test_a_new_deployment_defaults_to_one_replica_and_nothing_ready() -> None:
    row = _row(_builtin("apps", "deployments"), {"metadata": _meta("web"), "spec": {}})
    assert (row["Ready"], row["Up-to-date"], row["Available"]) == ("0/1", 0, 0)


def test_selectors_are_written_like_label_selector_strings() -> None:
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]},
        {"key": "canary", "operator": "DoesNotExist"},
    ]}
    row = _row(_builtin("apps", "replicasets"), {"metadata": _meta(), "spec": {
        "selector": selector}})
    assert row["Selector"] == "!canary,app=web,tier in (a,b)"


def test_configmaps_count_data_and_binary_data() -> None:
    configmap = {"metadata": _meta(), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert _row(_builtin("", "configmaps"), configmap)["Data"] == 3


def test_secrets_show_type_and_data_count() -> None:
    row = _row(_builtin("", "secrets"), {"metadata": _meta(), "data": {"a": "eA=="}})
    assert (row["Type"], row["Data"]) == ("Opaque", 1)


@pytest.mark.parametrize(("spec", "status", "cluster_ip", "external_ip", "ports"), [
    pytest.param({"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}, {},
                 "10.96.0.1", "<none>", "443/TCP", id="cluster-ip"),
    pytest.param({"type": "NodePort", "clusterIPs": ["10.96.0.2"],
                  "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]},
                 {}, "10.96.0.2", "<none>", "80:30080/TCP,53/UDP", id="node-port"),
    pytest.param({"type": "LoadBalancer", "clusterIP": "10.96.0.3", "ports": [{"port": 80}]},
                 {}, "10.96.0.3", "<pending>", "80/TCP", id="load-balancer-pending"),
    pytest.param({"type": "LoadBalancer", "clusterIP": "10.96.0.3", "ports": [{"port": 80}]},
                 {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}]}},
                 "10.96.0.3", "1.2.3.4,lb.example", "80/TCP", id="load-balancer"),
    pytest.param({"type": "ExternalName", "externalName": "db.example.com"}, {},
                 "<none>", "db.example.com", "<none>", id="external-name"),
])
def test_services_show_addresses_and_ports(spec: dict[str, Any], status: dict[str, Any],
                                           cluster_ip: str, external_ip: str, ports: str) -> None:
    row = _row(_builtin("", "services"), {"metadata": _meta(), "spec": spec, "status": status})
    assert (row["Cluster-IP"], row["External-IP"], row["Port(s)"]) == (
        cluster_ip, external_ip, ports)


def test_namespaces_show_their_phase() -> None:
    active = {"metadata": _meta("team"), "status": {"phase": "Active"}}
    deleting = {"metadata": _meta("old", deletionTimestamp=_ago(seconds=1))}
    assert _row(_builtin("", "namespaces"), active)["Status"] == "Active"
    assert _row(_builtin("", "namespaces"), deleting)["Status"] == "Terminating"


def test_leases_show_their_holder() -> None:
    lease = {"metadata": _meta("leader"), "spec": {"holderIdentity": "pod-1"}}
    assert _row(_builtin("coordination.k8s.io", "leases"), lease)["Holder"] == "pod-1"


def test_core_events_show_what_happened_to_which_object() -> None:
    event = {
        "metadata": _meta("p.123"), "type": "Warning", "reason": "BackOff", "count": 5,
        "message": "Back-off restarting failed container  ",
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": _ago(hours=2), "lastTimestamp": _ago(minutes=1),
    }
    assert _row(_builtin("", "events"), event) == {
        "Last Seen": "60s", "Type": "Warning", "Reason": "BackOff", "Object": "pod/p",
        "Subobject": "spec.containers{a}", "Source": "kubelet, node-1",
        "Message": "Back-off restarting failed container", "First Seen": "120m", "Count": 5,
        "Name": "p.123"}


def test_events_k8s_io_events_print_like_core_events() -> None:
    event = {
        "metadata": _meta("e"), "type": "Normal", "reason": "Scheduled", "note": "assigned",
        "regarding": {"kind": "Pod", "name": "p"}, "reportingController": "scheduler",
        "eventTime": _ago(minutes=4), "series": {"count": 3, "lastObservedTime": _ago(seconds=5)},
    }
    row = _row(_builtin("events.k8s.io", "events"), event)
    assert (row["Last Seen"], row["Object"], row["Message"], row["Source"], row["Count"]) == (
        "5s", "pod/p", "assigned", "scheduler", 3)
    assert row["First Seen"] == "4m"


def test_the_event_columns_put_last_seen_first_and_name_in_the_wide_view() -> None:
    columns = render_table(_builtin("", "events"), [], now=NOW)["columnDefinitions"]
    assert columns[0]["name"] == "Last Seen"
    assert [c["name"] for c in columns if c["priority"] == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message"]
    assert columns[-1] == {**columns[-1], "name": "Name", "format": "name", "priority": 1}


def test_a_printer_is_chosen_by_group_and_plural_not_by_version() -> None:
    resource = dataclasses.replace(_builtin("apps", "deployments"), version="v1beta2")
    assert "Up-to-date" in _row(resource, {"metadata": _meta()})
