"""Each chart through a real helm: ``helm lint --strict``, then ``helm template`` with every
values file of its ``ci/`` folder, each document validated against the Kubernetes schemas
(``kubernetes-validate``, strict: unknown fields fail) of the versions the e2e workflow runs and
the oldest the chart allows; then what the chart promises, asserted per mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from _helpers.charts import CHARTS, LIBRARY, ROOT, Render, of_kind, rules_of, run_helm

FOO = ROOT / "charts" / "foo-operator"
WEBHOOK = ROOT / "charts" / "webhook-operator"
CHART_IDS = {"ids": lambda chart: chart.name}
VALUES_FILES = [pytest.param(chart, values, id=f"{chart.name}/{values.stem}")
                for chart in CHARTS for values in sorted((chart / "ci").glob("*.yaml"))]
E2E_WORKFLOW = ROOT / ".github" / "workflows" / "e2e-kind.yml"
# Kinds from CRDs that kubernetes-validate has no schema of (checked by hand below).
CUSTOM_KINDS = {"ServiceMonitor"}


def kubernetes_versions() -> list[str]:
    """The minor versions of the e2e workflow's kind node images, and the chart's minimum."""
    matrix = yaml.safe_load(E2E_WORKFLOW.read_text())["jobs"]["e2e"]["strategy"]["matrix"]
    versions = {re.sub(r"^.*:v(\d+\.\d+).*$", r"\1", node) for node in matrix["node"]}
    minimum = yaml.safe_load((FOO / "Chart.yaml").read_text())["kubeVersion"]
    versions.add(re.sub(r"^>=(\d+\.\d+).*$", r"\1", minimum))
    return sorted(versions, key=lambda v: tuple(map(int, v.split("."))))


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = of_kind(docs, "Deployment")
    return found


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = deployment(docs)["spec"]["template"]["spec"]["containers"]
    return found


def env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom"))
            for item in container(docs)["env"]}


def rules(group: str, resource: str, *verbs: str) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for verb in verbs}


EVENTS = rules("", "events", "create", "patch")
# What each operator calls: in each served namespace (rbac.rules), and cluster-wide whatever
# the watch scope (rbac.clusterRules: cluster-scoped resources, and the Events of a
# cluster-scoped object, which go to the namespace "default").
OPERATOR_RULES = {
    "foo-operator": (
        rules("samplecontroller.k8s.io", "foos", "list", "watch")
        | rules("samplecontroller.k8s.io", "foos/status", "patch")
        | rules("apps", "deployments", "list", "watch", "create", "patch", "delete") | EVENTS,
        set()),
    "mirror-operator": (
        rules("", "configmaps", "list", "watch", "create", "update", "delete")
        | rules("", "secrets", "list", "watch", "create", "update", "delete"),
        rules("mirror.kopf-informers.dev", "configmirrors", "get", "list", "watch", "patch")
        | rules("mirror.kopf-informers.dev", "configmirrors/status", "patch")
        | rules("", "namespaces", "list", "watch") | EVENTS),
    "cronjob-operator": (
        rules("batch.tutorial.kubebuilder.io", "cronjobs", "list", "watch")
        | rules("batch.tutorial.kubebuilder.io", "cronjobs/status", "patch")
        | rules("batch", "jobs", "list", "watch", "create", "delete") | EVENTS,
        set()),
    # Kopf manages the (cluster-scoped) webhook configurations: created if absent, then patched.
    "webhook-operator": (
        rules("webhook.kopf-informers.dev", "greetings", "list", "watch")
        | rules("", "configmaps", "list", "watch", "create", "patch"),
        rules("admissionregistration.k8s.io", "validatingwebhookconfigurations", "create",
              "patch")
        | rules("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "create",
                "patch")),
}
SCANNING_RULES = {("apiextensions.k8s.io", "customresourcedefinitions", "list"),
                  ("apiextensions.k8s.io", "customresourcedefinitions", "watch")}
NAMESPACE_RULES = {("", "namespaces", "list"), ("", "namespaces", "watch")}


@pytest.mark.parametrize(("chart", "values"), VALUES_FILES)
def test_the_chart_passes_helm_lint_strict(helm: str, chart: Path, values: Path) -> None:
    run_helm(helm, "lint", "--strict", str(chart), "--values", str(values))


@pytest.mark.parametrize(("chart", "values"), VALUES_FILES)
def test_every_rendered_object_is_valid_for_each_kubernetes_version(
        render: Render, chart: Path, values: Path) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed: pip install -e "
        "'.[test,charts]'")
    docs = render(chart, "--values", str(values))
    assert {"CustomResourceDefinition", "ServiceAccount", "Deployment"} <= {
        doc["kind"] for doc in docs}
    for version in kubernetes_versions():
        for doc in docs:
            if doc["kind"] in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{doc['kind']} {doc['metadata']['name']} is invalid for "
                            f"Kubernetes {version}: {e.message} at {list(e.absolute_path)}")


def test_the_schema_validation_rejects_an_unknown_field(render: Render) -> None:
    """The check above would catch a typo in a template (strict: no unknown fields)."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = deployment(render(FOO))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate(broken, kubernetes_versions()[-1], strict=True)


@pytest.mark.parametrize(("chart", "values"), VALUES_FILES)
def test_the_pod_meets_the_restricted_pod_security_standard(
        render: Render, chart: Path, values: Path) -> None:
    docs = render(chart, "--values", str(values))
    pod = deployment(docs)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod)
    for each in pod["containers"] + pod.get("initContainers", []):
        security = each["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["readOnlyRootFilesystem"] is True
        assert not security.get("privileged")
        assert "/tmp" in {m["mountPath"] for m in each["volumeMounts"]}
    # What is writable is an emptyDir: /tmp, and the webhook server's certificate.
    assert all("emptyDir" in volume for volume in pod["volumes"])


def test_the_probes_use_kopfs_liveness_endpoint(render: Render) -> None:
    docs = render(FOO, "--set", "health.port=8123")
    operator = container(docs)
    assert "--liveness=http://0.0.0.0:8123/healthz" in operator["args"]
    assert {"name": "health", "containerPort": 8123, "protocol": "TCP"} in operator["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    startup = operator["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] > 120, "cache sync: 2 min"
    assert set(operator["resources"]) == {"requests", "limits"}


def test_every_chart_is_a_copy_of_the_same_design() -> None:
    """Only Chart.yaml, Chart.lock, crds/ and values.yaml differ: the templates name no
    operator. Each chart's templates are one line each, including the library's."""
    for chart in CHARTS:
        for shared in [*sorted((FOO / "templates").iterdir()), FOO / "values.schema.json",
                       *sorted((FOO / "ci").iterdir())]:
            copy = chart / shared.relative_to(FOO)
            assert copy.read_bytes() == shared.read_bytes(), f"{copy} differs from {shared}"
        assert sorted(p.name for p in (chart / "templates").iterdir()) == sorted(
            p.name for p in (FOO / "templates").iterdir())
    defined = {name for tpl in (LIBRARY / "templates").glob("*.tpl")
               for name in re.findall(r'define "(kopf-operator-lib\.[a-z-]+)"', tpl.read_text())}
    for template in (FOO / "templates").iterdir():
        [included] = re.findall(r'include "(kopf-operator-lib\.[a-z-]+)" \.', template.read_text())
        assert included in defined, f"{template.name} includes {included}, not in the library"
        assert included == f"kopf-operator-lib.{template.stem.lower()}"


def test_every_chart_depends_on_the_library_chart_as_locked() -> None:
    library = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())
    assert library["type"] == "library"
    for chart in CHARTS:
        [dependency] = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
        assert dependency == {"name": library["name"], "version": library["version"],
                              "repository": "file://../kopf-operator-lib"}
        [locked] = yaml.safe_load((chart / "Chart.lock").read_text())["dependencies"]
        assert locked == dependency, f"{chart.name}/Chart.lock: run helm dependency update"


def test_the_library_chart_passes_helm_lint_strict(helm: str) -> None:
    run_helm(helm, "lint", "--strict", str(LIBRARY))


def test_every_chart_has_its_operators_rules_checked() -> None:
    assert sorted(OPERATOR_RULES) == sorted(chart.name for chart in CHARTS)


@pytest.mark.parametrize("chart", CHARTS, **CHART_IDS)
def test_all_namespaces_get_a_cluster_role_and_no_roles_but_the_lease(
        render: Render, chart: Path) -> None:
    docs = render(chart, "--values", str(chart / "ci" / "all-namespaces-values.yaml"))
    served, cluster_wide = OPERATOR_RULES[chart.name]
    [cluster_role] = of_kind(docs, "ClusterRole")
    assert rules_of(cluster_role) == served | cluster_wide | SCANNING_RULES
    [binding] = of_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"release-{chart.name}",
                                    "namespace": "ops"}]
    assert [role["metadata"]["name"] for role in of_kind(docs, "Role")] == [
        f"release-{chart.name}-leader-election"]
    assert "--all-namespaces" in container(docs)["args"]
    assert "KOPF_INFORMERS_NAMESPACES" not in env(docs)


@pytest.mark.parametrize("chart", CHARTS, **CHART_IDS)
@pytest.mark.parametrize(("values", "namespaces"), [
    pytest.param("release-namespace-values.yaml", ["ops"], id="release"),
    pytest.param("listed-namespaces-values.yaml", ["team-a", "team-b"], id="listed"),
])
def test_served_namespaces_get_a_role_each_and_cluster_wide_only_what_must_be(
        render: Render, chart: Path, values: str, namespaces: list[str]) -> None:
    docs = render(chart, "--values", str(chart / "ci" / values))
    served, cluster_wide = OPERATOR_RULES[chart.name]
    [cluster_role] = of_kind(docs, "ClusterRole")
    # Read-only CRDs, and what is cluster-scoped (the mirror's): nothing else cluster-wide.
    assert rules_of(cluster_role) == SCANNING_RULES | cluster_wide
    roles = {role["metadata"]["namespace"]: role for role in of_kind(docs, "Role")
             if not role["metadata"]["name"].endswith("-leader-election")}
    assert sorted(roles) == namespaces
    assert all(rules_of(role) == served for role in roles.values())
    bindings = {b["metadata"]["namespace"]: b for b in of_kind(docs, "RoleBinding")
                if not b["metadata"]["name"].endswith("-leader-election")}
    assert sorted(bindings) == namespaces
    assert all(b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": f"release-{chart.name}"} for b in bindings.values())
    args = container(docs)["args"]
    assert [a for a in args if a.startswith("--namespace=")] == [
        f"--namespace={ns}" for ns in namespaces]
    assert "--all-namespaces" not in args
    assert env(docs)["KOPF_INFORMERS_NAMESPACES"] == ",".join(namespaces)


@pytest.mark.parametrize("chart", CHARTS, **CHART_IDS)
def test_globbed_namespaces_are_granted_cluster_wide_with_namespaces_to_follow(
        render: Render, chart: Path) -> None:
    docs = render(chart, "--values", str(chart / "ci" / "globbed-namespaces-values.yaml"))
    served, cluster_wide = OPERATOR_RULES[chart.name]
    [cluster_role] = of_kind(docs, "ClusterRole")
    assert rules_of(cluster_role) == served | cluster_wide | SCANNING_RULES | NAMESPACE_RULES
    assert [r["metadata"]["name"] for r in of_kind(docs, "Role")] == [
        f"release-{chart.name}-leader-election"]
    assert env(docs)["KOPF_INFORMERS_NAMESPACES"] == "team-a,team-*,!team-tmp"
    assert "--namespace=team-*" in container(docs)["args"]


def test_leader_election_gets_its_one_lease_in_the_release_namespace(render: Render) -> None:
    docs = render(FOO, "--set", "leaderElection.leaseName=foo-leader")
    assert deployment(docs)["spec"]["replicas"] == 2
    variables = env(docs)
    assert variables["KOPF_INFORMERS_LEADER_ELECTION"] == "true"
    assert variables["KOPF_INFORMERS_LEADER_ELECTION_ID"] == "foo-leader"
    assert variables["KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}}
    assert variables["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    [role] = [r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith("-election")]
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": ["foo-leader"], "verbs": ["get", "update"]},
    ]


def test_without_leader_election_there_is_no_lease_role(render: Render) -> None:
    docs = render(FOO, "--set", "leaderElection.enabled=false")
    assert env(docs)["KOPF_INFORMERS_LEADER_ELECTION"] == "false"
    assert not [r for r in of_kind(docs, "Role") if "leases" in str(r["rules"])]


def test_metrics_are_served_on_all_interfaces_with_a_service_and_a_monitor(
        render: Render) -> None:
    docs = render(FOO, "--values", str(FOO / "ci" / "metrics-values.yaml"))
    variables = env(docs)
    assert variables["KOPF_INFORMERS_METRICS_PORT"] == "9100"
    assert variables["KOPF_INFORMERS_METRICS_HOST"] == "0.0.0.0"
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container(docs)[
        "ports"]
    [service] = of_kind(docs, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9100,
                                         "targetPort": "metrics", "protocol": "TCP"}]
    pod_labels = deployment(docs)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [monitor] = of_kind(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics",
                                             "interval": "15s"}]


def test_metrics_can_be_turned_off(render: Render) -> None:
    docs = render(FOO, "--set", "metrics.enabled=false")
    assert "KOPF_INFORMERS_METRICS_PORT" not in env(docs)
    assert not of_kind(docs, "Service")
    assert not of_kind(docs, "ServiceMonitor")


@pytest.mark.parametrize("setting", [
    pytest.param("watch.scope=everything", id="unknown-scope"),
    pytest.param("watch.scope=namespaces", id="namespaces-without-a-list"),
    pytest.param("watch.namespaces={Team_A}", id="not-a-namespace-name"),
    pytest.param("replicaCount=-1", id="negative-replicas"),
    pytest.param("metrics.port=70000", id="not-a-port"),
    pytest.param("imageTag=1", id="unknown-top-level-key"),
])
def test_the_values_schema_refuses_a_mistake(helm: str, setting: str) -> None:
    result = run_helm(helm, "template", "release", str(FOO), "--set", setting, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


def test_a_service_monitor_without_its_service_is_refused(helm: str) -> None:
    result = run_helm(helm, "template", "release", str(FOO),
                      "--set", "metrics.serviceMonitor.enabled=true", check=False)
    assert result.returncode != 0
    assert "a ServiceMonitor scrapes a Service" in result.stderr


def test_the_notes_say_what_is_served_and_how_to_see_it(helm: str) -> None:
    notes = run_helm(helm, "install", "release", str(FOO), "--dry-run=client",
                     "--namespace", "ops", "--values",
                     str(FOO / "ci" / "listed-namespaces-values.yaml")).stdout
    assert "the namespaces team-a,team-b (a Role in each)" in notes
    assert "kubectl -n ops logs deployment/release-foo-operator" in notes


def test_a_webhook_server_is_told_its_service_and_listens_behind_it(render: Render) -> None:
    docs = render(WEBHOOK, "--set", "webhook.port=9555")
    variables = env(docs)
    [service] = [s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-webhook")]
    name = service["metadata"]["name"]
    assert name == "release-webhook-operator-webhook"
    assert service["metadata"]["namespace"] == "ops"
    # The webhook configurations name the Service (the operator's WEBHOOK_SERVICE), which the
    # certificate names too (WEBHOOK_HOST); the server listens on every interface of the pod.
    assert variables["WEBHOOK_SERVICE"] == f"ops/{name}"
    assert variables["WEBHOOK_HOST"] == f"{name}.ops.svc"
    assert variables["WEBHOOK_ADDR"] == "0.0.0.0"
    assert variables["WEBHOOK_PORT"] == "9555"
    assert {"name": "webhook", "containerPort": 9555, "protocol": "TCP"} in container(docs)[
        "ports"]
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 443,
                                         "targetPort": "webhook", "protocol": "TCP"}]
    pod_labels = deployment(docs)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # The certificate and key: written at start into a volume of their own, in memory.
    [mount] = [m for m in container(docs)["volumeMounts"] if m["name"] == "webhook-tls"]
    assert variables["WEBHOOK_CERT_DIR"] == mount["mountPath"]
    [volume] = [v for v in deployment(docs)["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "webhook-tls"]
    assert volume["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize("values", ["release-namespace-values.yaml",
                                    "listed-namespaces-values.yaml"])
def test_the_webhook_configurations_are_granted_cluster_wide_by_name_in_namespaced_mode(
        render: Render, values: str) -> None:
    docs = render(WEBHOOK, "--values", str(WEBHOOK / "ci" / values))
    [cluster_role] = of_kind(docs, "ClusterRole")
    configs = [rule for rule in cluster_role["rules"]
               if rule["apiGroups"] == ["admissionregistration.k8s.io"]]
    kinds = ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]
    # create cannot be limited to a name; patch is, to the one Kopf manages (its group).
    assert configs == [
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": kinds, "verbs": ["create"]},
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": kinds,
         "resourceNames": ["webhook.kopf-informers.dev"], "verbs": ["patch"]},
    ]
    assert not [role for role in of_kind(docs, "Role") if "admissionregistration" in str(role)]


def test_charts_without_webhooks_have_no_webhook_service_nor_settings(render: Render) -> None:
    for chart in CHARTS:
        if chart == WEBHOOK:
            continue
        docs = render(chart)
        assert not [s for s in of_kind(docs, "Service") if "webhook" in s["metadata"]["name"]]
        assert not [name for name in env(docs) if name.startswith("WEBHOOK_")]
        assert "webhook-tls" not in str(deployment(docs))


def test_webhooks_are_served_by_one_replica(helm: str, render: Render) -> None:
    """Only the leader serves them (a standby runs no Kopf task), while a Service would send a
    standby its share of the calls: more replicas are refused while webhooks are on."""
    assert deployment(render(WEBHOOK))["spec"]["replicas"] == 1
    result = run_helm(helm, "template", "release", str(WEBHOOK), "--set", "replicaCount=2",
                      check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert "replicaCount" in result.stderr
    docs = render(WEBHOOK, "--set", "webhook.enabled=false", "--set", "replicaCount=2")
    assert deployment(docs)["spec"]["replicas"] == 2


def test_the_notes_name_the_webhook_service(helm: str) -> None:
    notes = run_helm(helm, "install", "release", str(WEBHOOK), "--dry-run=client",
                     "--namespace", "ops").stdout
    assert "behind the Service ops/release-webhook-operator-webhook" in notes
