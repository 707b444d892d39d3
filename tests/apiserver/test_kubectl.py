"""kubectl 1.32 against the embedded API server, for real: what a user types, what they see.

Each test runs the real kubectl binary in a subprocess against a fresh server (the plugin's
``embedded_apiserver`` and ``kubectl`` fixtures) and checks the outcome the way a user would, by
kubectl's own output, and where it says more, by the server's request journal.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from kopf_informers.testing.apiserver import EmbeddedApiServer

pytestmark = pytest.mark.kubectl

TIMEOUT = 10.0  # seconds: the bound of every wait; a healthy run takes a fraction of it


def manifest(*objs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)


def configmap(name: str, data: dict[str, str] | None = None, *,
              labels: dict[str, str] | None = None, namespace: str | None = None,
              ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


def deployment(name: str, *, replicas: int = 1,
               containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers or [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


FOO_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "foos.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "foos", "singular": "foo", "kind": "Foo", "shortNames": ["fo"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            ],
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "properties": {
                        "color": {"type": "string", "enum": ["red", "green", "blue"]},
                        "size": {"type": "integer", "minimum": 1},
                    }},
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string"},
                    }},
                },
            }},
        }],
    },
}


def foo(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": name},
            "spec": spec}


def table(output: str) -> list[list[str]]:
    """kubectl's table output as rows of cells (the header first); cells never hold spaces here."""
    return [line.split() for line in output.splitlines() if line.strip()]


@pytest.fixture
def foo_crd(kubectl: Any) -> dict[str, Any]:
    """The ``foos.example.com`` CRD, applied with kubectl and established."""
    kubectl("apply", "-f", "-", input=manifest(FOO_CRD))
    kubectl("wait", "--for=condition=established", "crd/foos.example.com",
            f"--timeout={int(TIMEOUT)}s")
    return FOO_CRD


class LineReader:
    """Lines of a running process's stdout, read on a thread so that every read has a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self._thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout: float = TIMEOUT) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line from the process within {timeout}s")
        if line is None:
            pytest.fail("the process ended its output instead of printing a line")
        return line


@pytest.fixture
def background(kubectl: Any) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start kubectl without waiting for it; every process started is killed at teardown."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["kubectl", f"--kubeconfig={kubectl.kubeconfig}", f"--cache-dir={kubectl.cache_dir}",
             *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


def open_watches(server: EmbeddedApiServer, resource: str) -> list[Any]:
    return [e for e in server.journal.filter(verb="watch", resource=resource) if e.status is None]


# -- discovery ------------------------------------------------------------------------------------


def test_version_reports_a_1_32_server(kubectl: Any) -> None:
    server = kubectl.json("version")["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")
    assert server["gitVersion"].startswith("v1.32.")


def test_api_versions_list_the_core_group_and_the_built_in_groups(kubectl: Any) -> None:
    versions = kubectl("api-versions").stdout.split()
    for expected in ("v1", "apps/v1", "batch/v1", "apiextensions.k8s.io/v1",
                     "coordination.k8s.io/v1", "rbac.authorization.k8s.io/v1"):
        assert expected in versions


def test_api_resources_list_names_short_names_scope_and_kinds_without_warnings(
    kubectl: Any,
) -> None:
    result = kubectl("api-resources")
    rows = {row[0]: row for row in table(result.stdout)[1:]}
    assert rows["configmaps"] == ["configmaps", "cm", "v1", "true", "ConfigMap"]
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["customresourcedefinitions"][1:] == [
        "crd,crds", "apiextensions.k8s.io/v1", "false", "CustomResourceDefinition"]
    assert not any("/" in name for name in rows)  # subresources are not resource types
    assert result.stderr == ""  # e.g. no "short name could also match" warnings


def test_api_resources_include_a_crd_once_it_is_established(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    rows = table(kubectl("api-resources", "--api-group=example.com").stdout)
    assert rows[1] == ["foos", "fo", "example.com/v1", "true", "Foo"]


# -- get ------------------------------------------------------------------------------------------


def test_get_shows_the_columns_of_each_kind(kubectl: Any, wait_until: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings", {"a": "1", "b": "2"})))
    kubectl("create", "-f", "-", input=manifest(deployment("web", replicas=2)))

    rows = table(kubectl("get", "configmaps").stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert rows[1][:2] == ["settings", "2"]

    def deploy_rows() -> list[list[str]] | None:
        rows = table(kubectl("get", "deploy").stdout)
        return rows if rows[1][1] == "2/2" else None

    rows = wait_until(deploy_rows, timeout=TIMEOUT, what="web becomes ready")
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:4] == ["web", "2/2", "2", "2"]

    rows = table(kubectl("get", "deploy", "-o", "wide").stdout)
    assert rows[0][5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[1][5:] == ["app", "nginx:1.27", "app=web"]


def test_get_of_a_missing_object_is_a_not_found_error(kubectl: Any) -> None:
    result = kubectl("get", "configmap", "nowhere", check=False)
    assert result.returncode == 1
    assert 'Error from server (NotFound): configmaps "nowhere" not found' in result.stderr


def test_get_as_json_and_yaml_returns_the_stored_object(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings", {"a": "1"})))

    obj = kubectl.json("get", "configmap", "settings")
    assert (obj["apiVersion"], obj["kind"], obj["data"]) == ("v1", "ConfigMap", {"a": "1"})
    meta = obj["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"]

    as_yaml = yaml.safe_load(kubectl("get", "configmap", "settings", "-o", "yaml").stdout)
    assert as_yaml == obj

    listed = kubectl.json("get", "configmaps")
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["settings"]


def test_get_as_names_prints_resource_slash_name(kubectl: Any, foo_crd: dict[str, Any]) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("one"), configmap("two"),
                                                 deployment("web"), foo("f1", color="red")))
    assert kubectl("get", "cm", "-o", "name").stdout.split() == ["configmap/one", "configmap/two"]
    assert kubectl("get", "deploy,foos", "-o", "name").stdout.split() == [
        "deployment.apps/web", "foo.example.com/f1"]


def test_label_and_field_selectors_are_filtered_by_the_server(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer,
) -> None:
    kubectl("create", "-f", "-", input=manifest(
        configmap("red", labels={"color": "red", "tier": "web"}),
        configmap("green", labels={"color": "green", "tier": "web"}),
        configmap("plain"),
    ))

    def names(*args: str) -> list[str]:
        return kubectl("get", "configmaps", "-o", "name", *args).stdout.split()

    assert names("-l", "color=red") == ["configmap/red"]
    assert names("-l", "tier=web,color!=red") == ["configmap/green"]
    assert names("-l", "color in (red,green)") == ["configmap/green", "configmap/red"]
    assert names("-l", "!color") == ["configmap/plain"]
    assert names("--field-selector", "metadata.name=green") == ["configmap/green"]
    assert names("--field-selector", "metadata.name!=green") == [
        "configmap/plain", "configmap/red"]

    lists = embedded_apiserver.journal.filter(verb="list", resource="configmaps")
    assert {e.query.get("labelSelector") for e in lists} >= {"color=red", "!color"}
    assert {e.query.get("fieldSelector") for e in lists} >= {"metadata.name=green"}


def test_get_in_chunks_pages_through_the_list_with_continue_tokens(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer,
) -> None:
    names = [f"cm-{i}" for i in range(5)]
    kubectl("create", "-f", "-", input=manifest(*(configmap(name) for name in names)))
    embedded_apiserver.journal.clear()

    listed = kubectl("get", "configmaps", "--chunk-size=2", "-o", "name").stdout.split()
    assert listed == [f"configmap/{name}" for name in names]
    pages = embedded_apiserver.journal.filter(verb="list", resource="configmaps")
    assert [e.query.get("limit") for e in pages] == ["2", "2", "2"]
    assert [bool(e.query.get("continue")) for e in pages] == [False, True, True]


def test_an_unsupported_field_selector_is_a_bad_request(kubectl: Any) -> None:
    result = kubectl("get", "configmaps", "--field-selector", "data.a=1", check=False)
    assert result.returncode == 1
    assert "field label not supported: data.a" in result.stderr


def test_get_all_namespaces_lists_objects_of_every_namespace(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
        configmap("here"),
        configmap("there", namespace="other"),
    ))

    rows = table(kubectl("get", "configmaps", "-A").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "DATA", "AGE"]
    assert [row[:2] for row in rows[1:]] == [["default", "here"], ["other", "there"]]
    assert kubectl("get", "cm", "-n", "other", "-o", "name").stdout.split() == [
        "configmap/there"]
    assert kubectl("get", "cm", "-o", "name").stdout.split() == ["configmap/here"]


def test_get_watch_prints_a_line_for_each_change(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer, wait_until: Any,
    background: Callable[..., subprocess.Popen[str]],
) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("before")))
    watch = background("get", "cm", "-w", "--output-watch-events", "-o", "name")
    lines = LineReader(watch)
    assert lines.next() == "configmap/before"  # the initial list
    wait_until(lambda: open_watches(embedded_apiserver, "configmaps"), timeout=TIMEOUT,
               what="kubectl's watch is open")

    kubectl("create", "-f", "-", input=manifest(configmap("during")))
    assert lines.next() == "configmap/during"
    kubectl("label", "configmap", "before", "seen=yes")
    assert lines.next() == "configmap/before"
    kubectl("delete", "configmap", "during")
    assert lines.next() == "configmap/during"

    watch.kill()
    watch.wait(timeout=TIMEOUT)
    assert watch.stderr is not None
    assert "error" not in watch.stderr.read().lower()


def test_get_watch_prints_table_rows_under_one_header(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer, wait_until: Any,
    background: Callable[..., subprocess.Popen[str]],
) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings", {"a": "1"})))
    watch = background("get", "configmaps", "--watch")
    lines = LineReader(watch)
    assert lines.next().split() == ["NAME", "DATA", "AGE"]
    assert lines.next().split()[:2] == ["settings", "1"]
    wait_until(lambda: open_watches(embedded_apiserver, "configmaps"), timeout=TIMEOUT,
               what="kubectl's watch is open")

    # The server answers the watch with one-row Tables of the same columns, so kubectl
    # prints no second header (it would for raw objects: "NAME AGE").
    kubectl("patch", "configmap", "settings", "--type=merge", "-p", '{"data":{"b":"2"}}')
    assert lines.next().split()[:2] == ["settings", "2"]


def test_get_watch_as_json_reports_the_event_types(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer, wait_until: Any,
    background: Callable[..., subprocess.Popen[str]],
) -> None:
    watch = background("get", "cm", "-w", "--output-watch-events", "-o", "jsonpath={.type} "
                       "{.object.metadata.name} {.object.data.a}{\"\\n\"}")
    lines = LineReader(watch)
    wait_until(lambda: open_watches(embedded_apiserver, "configmaps"), timeout=TIMEOUT,
               what="kubectl's watch is open")

    kubectl("create", "-f", "-", input=manifest(configmap("one", {"a": "1"})))
    kubectl("patch", "configmap", "one", "--type=merge", "-p", '{"data":{"a":"2"}}')
    kubectl("delete", "configmap", "one")
    assert [lines.next(), lines.next(), lines.next()] == [
        "ADDED one 1", "MODIFIED one 2", "DELETED one 2"]


# -- apply ----------------------------------------------------------------------------------------


def test_apply_creates_then_reports_unchanged_then_configured(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer,
) -> None:
    first = manifest(configmap("settings", {"a": "1"}))
    assert kubectl("apply", "-f", "-", input=first).stdout.strip() == "configmap/settings created"
    assert kubectl("apply", "-f", "-", input=first).stdout.strip() == (
        "configmap/settings unchanged")
    second = manifest(configmap("settings", {"a": "2"}))
    assert kubectl("apply", "-f", "-", input=second).stdout.strip() == (
        "configmap/settings configured")

    obj = kubectl.json("get", "configmap", "settings")
    assert obj["data"] == {"a": "2"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]

    # Default validation worked: kubectl read the OpenAPI v3 documents, found that the server
    # validates fields, and asked it to validate strictly (no --validate=false needed).
    paths = [e.path for e in embedded_apiserver.journal]
    assert "/openapi/v3" in paths
    assert "/openapi/v3/api/v1" in paths
    writes = embedded_apiserver.journal.filter(resource="configmaps", method="POST")
    writes += embedded_apiserver.journal.filter(resource="configmaps", method="PATCH")
    assert {e.query.get("fieldValidation") for e in writes} == {"Strict"}


def test_apply_rejects_unknown_fields_of_built_ins_with_default_validation(kubectl: Any) -> None:
    body = configmap("settings", {"a": "1"})
    body["colour"] = "red"
    result = kubectl("apply", "-f", "-", input=manifest(body), check=False)
    assert result.returncode == 1
    assert 'unknown field "colour"' in result.stderr
    assert kubectl("get", "cm", "-o", "name").stdout == ""

    ignored = kubectl("apply", "--validate=false", "-f", "-", input=manifest(body))
    assert ignored.stdout.strip() == "configmap/settings created"
    assert "colour" not in kubectl.json("get", "configmap", "settings")


def test_server_dry_run_refuses_a_built_in_of_the_wrong_type(kubectl: Any) -> None:
    body = deployment("web")
    body["spec"]["replicas"] = "two"
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=manifest(body), check=False)
    assert result.returncode == 1
    assert ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
            "unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            ) in result.stderr
    assert kubectl("get", "deployments", "-o", "name").stdout == ""


def test_apply_merges_built_in_lists_by_the_keys_of_the_served_schemas(kubectl: Any) -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    kubectl("apply", "-f", "-", input=manifest(deployment("web", containers=[
        {"name": "app", "image": "nginx:1.27", "env": env}])))
    env[1]["value"] = "3"
    kubectl("apply", "-f", "-", input=manifest(deployment("web", replicas=2, containers=[
        {"name": "app", "image": "nginx:1.27", "env": env}])))
    stored = kubectl.json("get", "deployment", "web")
    assert stored["spec"]["replicas"] == 2
    assert stored["spec"]["template"]["spec"]["containers"][0]["env"] == env


@pytest.mark.parametrize("output", ["plaintext", "plaintext-openapiv2"])
def test_explain_describes_built_ins_from_the_served_schemas(kubectl: Any, output: str) -> None:
    explained = kubectl("explain", "deployment.spec.template", f"--output={output}").stdout
    assert "Template describes the pods that will be created." in explained
    assert "spec\t<" in explained  # its fields are listed: PodSpec's (v3), Object (v2)
    replicas = kubectl("explain", "deployment.spec.replicas", f"--output={output}").stdout
    assert "<integer>" in replicas


def test_apply_of_a_crd_and_its_object_in_one_file_fails_only_as_on_a_real_cluster(
    kubectl: Any,
) -> None:
    # kubectl validates every object before it applies any. A kind that no OpenAPI v3 document
    # names sends it to /openapi/v2 (as protobuf), which must answer: then the CRD is created.
    # The object is not: kubectl maps every object before applying any, when its kind is not
    # served yet, and says so as it does on a real cluster. The second apply creates it.
    both = manifest(FOO_CRD, foo("f1", color="red"))
    first = kubectl("apply", "-f", "-", input=both, check=False)
    assert "customresourcedefinition.apiextensions.k8s.io/foos.example.com created" in (
        first.stdout)
    assert "error validating" not in first.stderr
    assert 'no matches for kind "Foo" in version "example.com/v1"' in first.stderr
    assert "ensure CRDs are installed first" in first.stderr
    kubectl("wait", "--for=condition=established", "crd/foos.example.com",
            f"--timeout={int(TIMEOUT)}s")
    second = kubectl("apply", "-f", "-", input=both)
    assert "foo.example.com/f1 created" in second.stdout
    assert kubectl.json("get", "foo", "f1")["spec"] == {"color": "red"}


def test_apply_rejects_unknown_fields_of_custom_resources_with_default_validation(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    result = kubectl("apply", "-f", "-", input=manifest(foo("f1", color="red", shade="dark")),
                     check=False)
    assert result.returncode == 1
    assert 'unknown field "spec.shade"' in result.stderr
    assert kubectl("get", "foos", "-o", "name").stdout == ""

    kubectl("apply", "--validate=false", "-f", "-",
            input=manifest(foo("f1", color="red", shade="dark")))
    assert kubectl.json("get", "foo", "f1")["spec"] == {"color": "red"}  # pruned


def test_apply_handles_a_built_in_and_a_custom_resource_in_one_manifest(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    text = manifest(configmap("settings", {"a": "1"}), foo("f1", color="red", size=2))
    assert kubectl("apply", "-f", "-", input=text).stdout.splitlines() == [
        "configmap/settings created", "foo.example.com/f1 created"]
    assert kubectl("apply", "-f", "-", input=text).stdout.splitlines() == [
        "configmap/settings unchanged", "foo.example.com/f1 unchanged"]

    text = manifest(configmap("settings", {"a": "1"}), foo("f1", color="blue", size=2))
    assert kubectl("apply", "-f", "-", input=text).stdout.splitlines() == [
        "configmap/settings unchanged", "foo.example.com/f1 configured"]
    assert kubectl.json("get", "foo", "f1")["spec"] == {"color": "blue", "size": 2}


def test_apply_of_a_deployment_keeps_fields_set_by_others(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", input=manifest(deployment("web")))
    kubectl("annotate", "deployment", "web", "owner=team-a")
    changed = deployment("web", containers=[{"name": "app", "image": "nginx:1.28"}])
    assert kubectl("apply", "-f", "-", input=manifest(changed)).stdout.strip() == (
        "deployment.apps/web configured")

    obj = kubectl.json("get", "deployment", "web")
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert obj["metadata"]["annotations"]["owner"] == "team-a"
    assert obj["metadata"]["generation"] == 2


def test_diff_shows_what_apply_would_change_without_changing_anything(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer,
) -> None:
    kubectl("apply", "-f", "-", input=manifest(configmap("settings", {"a": "1"})))
    rv = kubectl.json("get", "configmap", "settings")["metadata"]["resourceVersion"]

    same = kubectl("diff", "-f", "-", input=manifest(configmap("settings", {"a": "1"})))
    assert same.stdout == ""
    changed = kubectl("diff", "-f", "-", input=manifest(configmap("settings", {"a": "2"})),
                      check=False)
    assert changed.returncode == 1  # diff's "there are differences"
    assert '-  a: "1"' in changed.stdout.splitlines()
    assert '+  a: "2"' in changed.stdout.splitlines()

    assert kubectl.json("get", "configmap", "settings")["metadata"]["resourceVersion"] == rv
    patches = embedded_apiserver.journal.filter(resource="configmaps", method="PATCH")
    assert patches
    assert all(e.query.get("dryRun") == "All" for e in patches)


def test_server_side_dry_runs_validate_but_store_nothing(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    created = kubectl("create", "--dry-run=server", "-f", "-", input=manifest(
        configmap("settings"), foo("f1", color="red")))
    assert created.stdout.splitlines() == [
        "configmap/settings created (server dry run)",
        "foo.example.com/f1 created (server dry run)",
    ]
    refused = kubectl("apply", "--dry-run=server", "-f", "-",
                      input=manifest(foo("f2", color="purple")), check=False)
    assert refused.returncode == 1
    assert 'spec.color: Unsupported value: "purple"' in refused.stderr
    assert kubectl("get", "cm,foos", "-o", "name").stdout == ""


def test_server_side_apply_sets_and_then_removes_the_fields_of_its_manager(kubectl: Any) -> None:
    full = configmap("settings", {"a": "1", "b": "2"}, labels={"tier": "web", "extra": "yes"})
    assert kubectl("apply", "--server-side", "-f", "-", input=manifest(full)).stdout.strip() == (
        "configmap/settings serverside-applied")
    obj = kubectl.json("get", "configmap", "settings", "--show-managed-fields")
    assert obj["data"] == {"a": "1", "b": "2"}
    managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    assert managers == {("kubectl", "Apply")}

    smaller = configmap("settings", {"a": "1"}, labels={"tier": "web"})
    kubectl("apply", "--server-side", "-f", "-", input=manifest(smaller))
    obj = kubectl.json("get", "configmap", "settings")
    assert obj["data"] == {"a": "1"}
    assert obj["metadata"]["labels"] == {"tier": "web"}
    assert "managedFields" not in obj["metadata"]  # kubectl hides them unless asked


def test_server_side_apply_conflicts_with_another_manager_unless_forced(kubectl: Any) -> None:
    kubectl("apply", "--server-side", "-f", "-",
            input=manifest(configmap("s", {"a": "1", "b": "1"})))
    other = manifest(configmap("s", {"a": "2", "b": "1"}))
    result = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                     input=other, check=False)
    assert result.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in result.stderr
    assert "--force-conflicts" in result.stderr  # kubectl recognised the 409 as a conflict
    assert kubectl.json("get", "configmap", "s")["data"] == {"a": "1", "b": "1"}

    kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
            input=other)
    obj = kubectl.json("get", "configmap", "s", "--show-managed-fields")
    assert obj["data"] == {"a": "2", "b": "1"}
    owners = {m["manager"]: m["fieldsV1"]["f:data"] for m in obj["metadata"]["managedFields"]}
    assert owners == {"kubectl": {"f:b": {}}, "other": {"f:a": {}, "f:b": {}}}


# -- create, replace ------------------------------------------------------------------------------


def test_create_makes_an_object_and_refuses_an_existing_one(kubectl: Any) -> None:
    text = manifest(configmap("settings", {"a": "1"}))
    assert kubectl("create", "-f", "-", input=text).stdout.strip() == (
        "configmap/settings created")
    result = kubectl("create", "-f", "-", input=text, check=False)
    assert result.returncode == 1
    assert 'Error from server (AlreadyExists): error when creating "STDIN": ' \
           'configmaps "settings" already exists' in result.stderr


def test_replace_stores_the_new_object_and_refuses_a_stale_one(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings", {"a": "1"})))
    current = kubectl.json("get", "configmap", "settings")

    current["data"] = {"a": "2"}
    assert kubectl("replace", "-f", "-", input=manifest(current)).stdout.strip() == (
        "configmap/settings replaced")
    assert kubectl.json("get", "configmap", "settings")["data"] == {"a": "2"}

    current["data"] = {"a": "3"}  # still carries the resourceVersion read before the replace
    result = kubectl("replace", "-f", "-", input=manifest(current), check=False)
    assert result.returncode == 1
    assert "Error from server (Conflict)" in result.stderr
    assert "the object has been modified" in result.stderr
    assert kubectl.json("get", "configmap", "settings")["data"] == {"a": "2"}


# -- patch, label, annotate -----------------------------------------------------------------------


def test_merge_patch_sets_and_removes_keys(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings", {"a": "1", "b": "2"})))
    result = kubectl("patch", "configmap", "settings", "--type=merge",
                     "-p", '{"data":{"a":"9","b":null,"c":"3"}}')
    assert result.stdout.strip() == "configmap/settings patched"
    assert kubectl.json("get", "configmap", "settings")["data"] == {"a": "9", "c": "3"}


def test_json_patch_applies_its_operations_and_fails_whole_on_a_failed_test(
    kubectl: Any,
) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings", {"a": "1"})))
    ops = '[{"op":"test","path":"/data/a","value":"1"},{"op":"add","path":"/data/b","value":"2"}]'
    kubectl("patch", "configmap", "settings", "--type=json", "-p", ops)
    assert kubectl.json("get", "configmap", "settings")["data"] == {"a": "1", "b": "2"}

    ops = ('[{"op":"remove","path":"/data/b"},'
           '{"op":"test","path":"/data/a","value":"other"}]')
    result = kubectl("patch", "configmap", "settings", "--type=json", "-p", ops, check=False)
    assert result.returncode == 1
    assert "test failed" in result.stderr
    assert kubectl.json("get", "configmap", "settings")["data"] == {"a": "1", "b": "2"}


def test_strategic_merge_patch_merges_containers_by_name(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(deployment("web", containers=[
        {"name": "app", "image": "nginx:1.27", "env": [{"name": "MODE", "value": "fast"}]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ])))
    patch = '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.28"}]}}}}'
    assert kubectl("patch", "deployment", "web", "-p", patch).stdout.strip() == (
        "deployment.apps/web patched")

    containers = kubectl.json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "nginx:1.28"), ("sidecar", "busybox:1.36")]
    assert containers[0]["env"] == [{"name": "MODE", "value": "fast"}]


def test_strategic_merge_patch_is_refused_for_custom_resources(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    kubectl("create", "-f", "-", input=manifest(foo("f1", color="red")))
    result = kubectl("patch", "foo", "f1", "-p", '{"spec":{"size":2}}', check=False)
    assert result.returncode == 1
    assert "application/merge-patch+json" in result.stderr  # what the server does accept
    kubectl("patch", "foo", "f1", "--type=merge", "-p", '{"spec":{"size":2}}')
    assert kubectl.json("get", "foo", "f1")["spec"] == {"color": "red", "size": 2}


def test_label_adds_overwrites_only_when_asked_and_removes(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings")))
    assert kubectl("label", "configmap", "settings", "tier=web").stdout.strip() == (
        "configmap/settings labeled")

    refused = kubectl("label", "configmap", "settings", "tier=db", check=False)
    assert refused.returncode == 1
    assert "'tier' already has a value (web), and --overwrite is false" in refused.stderr

    kubectl("label", "configmap", "settings", "tier=db", "--overwrite")
    assert kubectl.json("get", "cm", "settings")["metadata"]["labels"] == {"tier": "db"}
    assert kubectl("label", "configmap", "settings", "tier-").stdout.strip() == (
        "configmap/settings unlabeled")
    assert "labels" not in kubectl.json("get", "cm", "settings")["metadata"]  # not even {}


def test_annotate_adds_overwrites_only_when_asked_and_removes(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings")))
    kubectl("annotate", "configmap", "settings", "note=first")

    refused = kubectl("annotate", "configmap", "settings", "note=second", check=False)
    assert refused.returncode == 1
    assert "'note' already has a value (first)" in refused.stderr

    kubectl("annotate", "configmap", "settings", "note=second", "--overwrite")
    annotations = kubectl.json("get", "cm", "settings")["metadata"]["annotations"]
    assert annotations == {"note": "second"}
    kubectl("annotate", "configmap", "settings", "note-")
    assert "annotations" not in kubectl.json("get", "cm", "settings")["metadata"]


# -- scale ----------------------------------------------------------------------------------------


def test_scale_goes_through_the_scale_subresource_and_the_deployment_becomes_ready(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer, wait_until: Any,
) -> None:
    kubectl("create", "-f", "-", input=manifest(deployment("web", replicas=1)))
    assert kubectl("scale", "deployment", "web", "--replicas=3").stdout.strip() == (
        "deployment.apps/web scaled")
    assert [e.status for e in embedded_apiserver.journal.filter(
        resource="deployments/scale", method="PATCH")] == [200]
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 3

    def ready() -> list[str] | None:
        row = table(kubectl("get", "deploy", "web").stdout)[1]
        return row if row[1] == "3/3" else None

    row = wait_until(ready, timeout=TIMEOUT, what="the deployment shows 3/3 ready")
    assert row[:4] == ["web", "3/3", "3", "3"]
    result = kubectl("rollout", "status", "deployment/web", f"--timeout={int(TIMEOUT)}s")
    assert 'deployment "web" successfully rolled out' in result.stdout


def test_scale_with_a_stale_current_replicas_precondition_is_refused(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(deployment("web", replicas=2)))
    result = kubectl("scale", "deployment", "web", "--current-replicas=5", "--replicas=3",
                     check=False)
    assert result.returncode == 1
    assert "Expected replicas to be 5, was 2" in result.stderr
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 2


# -- delete ---------------------------------------------------------------------------------------


def test_delete_waits_until_the_object_is_gone(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer,
) -> None:
    kubectl("create", "-f", "-", input=manifest(configmap("settings")))
    assert kubectl("delete", "configmap", "settings").stdout.strip() == (
        'configmap "settings" deleted')
    assert kubectl("get", "cm", "-o", "name").stdout == ""
    deletes = embedded_apiserver.journal.filter(verb="delete", resource="configmaps")
    assert [e.status for e in deletes] == [200]


def test_delete_with_a_finalizer_marks_the_object_until_the_finalizer_is_removed(
    kubectl: Any,
) -> None:
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    kubectl("create", "-f", "-", input=manifest(body))

    assert kubectl("delete", "configmap", "held", "--wait=false").stdout.strip() == (
        'configmap "held" deleted')
    meta = kubectl.json("get", "configmap", "held")["metadata"]
    assert meta["deletionTimestamp"]
    assert meta["finalizers"] == ["example.com/hold"]

    kubectl("patch", "configmap", "held", "--type=json",
            "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    result = kubectl("get", "configmap", "held", check=False)
    assert 'configmaps "held" not found' in result.stderr


def test_delete_blocks_while_a_finalizer_holds_the_object(
    kubectl: Any, embedded_apiserver: EmbeddedApiServer, wait_until: Any,
    background: Callable[..., subprocess.Popen[str]],
) -> None:
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    kubectl("create", "-f", "-", input=manifest(body))

    deleting = background("delete", "configmap", "held", f"--timeout={int(TIMEOUT)}s")
    wait_until(lambda: open_watches(embedded_apiserver, "configmaps"), timeout=TIMEOUT,
               what="kubectl delete waits on a watch")
    assert kubectl.json("get", "configmap", "held")["metadata"]["deletionTimestamp"]
    assert deleting.poll() is None  # still waiting: the object is there

    kubectl("patch", "configmap", "held", "--type=merge",
            "-p", '{"metadata":{"finalizers":null}}')
    stdout, stderr = deleting.communicate(timeout=TIMEOUT)
    assert deleting.returncode == 0, stderr
    assert stdout.strip() == 'configmap "held" deleted'
    assert kubectl("get", "cm", "-o", "name").stdout == ""


def test_delete_by_label_deletes_only_the_selected_objects(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(
        configmap("a", labels={"batch": "one"}),
        configmap("b", labels={"batch": "one"}),
        configmap("c", labels={"batch": "two"}),
    ))
    result = kubectl("delete", "configmaps", "-l", "batch=one")
    assert result.stdout.splitlines() == ['configmap "a" deleted', 'configmap "b" deleted']
    assert kubectl("get", "cm", "-o", "name").stdout.split() == ["configmap/c"]


# -- custom resources -----------------------------------------------------------------------------


def test_wait_for_an_established_crd_returns_once_it_is_served(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", input=manifest(FOO_CRD))
    result = kubectl("wait", "--for=condition=established", "crd/foos.example.com",
                     f"--timeout={int(TIMEOUT)}s")
    assert result.stdout.strip() == (
        "customresourcedefinition.apiextensions.k8s.io/foos.example.com condition met")
    assert kubectl("get", "foos").stderr.strip() == "No resources found in default namespace."


def test_get_of_custom_resources_shows_the_printer_columns(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    kubectl("apply", "-f", "-", input=manifest(foo("f1", color="red", size=3),
                                                foo("f2", color="blue")))
    kubectl("patch", "foo", "f1", "--subresource=status", "--type=merge",
            "-p", '{"status":{"phase":"Ready"}}')

    rows = table(kubectl("get", "foos").stdout)
    assert rows == [["NAME", "COLOR", "SIZE", "PHASE"],
                    ["f1", "red", "3", "Ready"],
                    ["f2", "blue"]]  # kubectl leaves empty cells blank
    assert table(kubectl("get", "fo", "f2").stdout)[1] == ["f2", "blue"]


def test_status_is_only_written_through_the_status_subresource(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    body = foo("f1", color="red")
    body["status"] = {"phase": "Forged"}
    kubectl("apply", "-f", "-", input=manifest(body))
    assert "status" not in kubectl.json("get", "foo", "f1")

    kubectl("patch", "foo", "f1", "--subresource=status", "--type=merge",
            "-p", '{"status":{"phase":"Ready"},"spec":{"color":"blue"}}')
    obj = kubectl.json("get", "foo", "f1")
    assert obj["status"] == {"phase": "Ready"}
    assert obj["spec"] == {"color": "red"}


def test_apply_of_an_invalid_custom_resource_is_refused_with_the_field_paths(
    kubectl: Any, foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
) -> None:
    result = kubectl("apply", "-f", "-", input=manifest(foo("bad", color="purple", size=0)),
                     check=False)
    assert result.returncode == 1
    assert 'The Foo "bad" is invalid' in result.stderr
    assert 'spec.color: Unsupported value: "purple"' in result.stderr
    assert "spec.size: Invalid value: 0" in result.stderr
    posts = embedded_apiserver.journal.filter(resource="foos", method="POST")
    assert [e.status for e in posts] == [422]
    assert kubectl("get", "foos", "-o", "name").stdout == ""


def test_deleting_a_crd_removes_its_objects_and_its_resource_type(
    kubectl: Any, foo_crd: dict[str, Any],
) -> None:
    kubectl("apply", "-f", "-", input=manifest(foo("f1", color="red")))
    kubectl("delete", "crd", "foos.example.com", f"--timeout={int(TIMEOUT)}s")
    assert kubectl("get", "crds", "-o", "name").stdout == ""
    result = kubectl("get", "foos", check=False)
    assert result.returncode == 1
    # kubectl's discovery cache still knows the type, so it lists and gets a 404, as it would
    # from a real cluster right after the deletion; with a fresh cache the type is unknown.
    assert 'Unable to list "example.com/v1, Resource=foos"' in result.stderr
    result = kubectl("get", "foos", f"--cache-dir={kubectl.cache_dir}-fresh", check=False)
    assert 'the server doesn\'t have a resource type "foos"' in result.stderr


# -- namespaces -----------------------------------------------------------------------------------


def test_default_namespaces_exist(kubectl: Any) -> None:
    rows = table(kubectl("get", "namespaces").stdout)
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    assert [row[:2] for row in rows[1:]] == [
        ["default", "Active"], ["kube-node-lease", "Active"],
        ["kube-public", "Active"], ["kube-system", "Active"]]


def test_namespaces_carry_their_name_as_a_label_for_namespace_selectors(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}))
    kubectl("label", "namespace", "team", "kubernetes.io/metadata.name=other", "--overwrite")
    selected = kubectl("get", "namespaces", "-l", "kubernetes.io/metadata.name in (team,default)",
                       "-o", "name")
    assert selected.stdout.split() == ["namespace/default", "namespace/team"]


def test_deleting_a_namespace_deletes_its_contents_and_then_itself(
    kubectl: Any, wait_until: Any,
) -> None:
    kubectl("create", "-f", "-", input=manifest(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}))
    kubectl("create", "-f", "-", input=manifest(
        configmap("inside", namespace="team"), configmap("outside")))
    kubectl("create", "-n", "team", "-f", "-", input=manifest(deployment("web")))

    kubectl("delete", "namespace", "team", "--wait=false")
    rows = table(kubectl("get", "namespaces", "team", "--ignore-not-found").stdout)
    assert rows == [] or rows[1][:2] == ["team", "Terminating"]

    wait_until(lambda: kubectl("get", "namespaces", "-o", "name").stdout.split() == [
        "namespace/default", "namespace/kube-node-lease", "namespace/kube-public",
        "namespace/kube-system"], timeout=TIMEOUT, what="the namespace goes")
    assert kubectl("get", "cm,deploy", "-A", "-o", "name").stdout.split() == [
        "configmap/outside"]


def test_objects_cannot_be_created_in_a_missing_namespace(kubectl: Any) -> None:
    result = kubectl("create", "-n", "nowhere", "-f", "-", input=manifest(configmap("x")),
                     check=False)
    assert result.returncode == 1
    assert 'namespaces "nowhere" not found' in result.stderr


def test_delete_of_a_namespace_waits_until_it_is_gone(kubectl: Any) -> None:
    kubectl("create", "-f", "-", input=manifest(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "brief"}},
        configmap("inside", namespace="brief")))
    result = kubectl("delete", "namespace", "brief", f"--timeout={int(TIMEOUT)}s")
    assert result.stdout.strip() == 'namespace "brief" deleted'
    assert kubectl("get", "namespace", "brief", "--ignore-not-found").stdout == ""
