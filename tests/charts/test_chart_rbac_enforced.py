"""The Foo operator under the chart's RBAC, enforced: it runs as the chart's ServiceAccount on a
server with ``rbac=True`` and TLS, and converges; with one verb taken from the chart's Role it
fails, and what fails is a 403 that names that verb. The journal tells the least rules it used.
The webhook operator, so, manages its cluster-scoped webhook configurations from a namespaced
install.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from _helpers.charts import ROOT, Render, stop_operator
from kubernetes.client import ApiextensionsV1Api, CoreV1Api, CustomObjectsApi

from kopf_informers.testing import EmbeddedApiServer, wait_until

FOO = ROOT / "charts" / "foo-operator"
NAMESPACE, RELEASE_NAMESPACE = "team-a", "ops"
GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
ACCOUNT = "release-foo-operator"
USER = f"system:serviceaccount:{RELEASE_NAMESPACE}:{ACCOUNT}"
RBAC_KINDS = ("ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedApiServer]:
    with EmbeddedApiServer(tls=True, rbac=True, kubeconfig=tmp_path / "admin.kubeconfig") as s:
        yield s


@pytest.fixture
def admin(server: EmbeddedApiServer) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
    with client:
        ApiextensionsV1Api(client).create_custom_resource_definition(
            yaml.safe_load((FOO / "crds" / "foo-crd.yaml").read_text()))
        for name in (NAMESPACE, RELEASE_NAMESPACE):
            CoreV1Api(client).create_namespace({"metadata": {"name": name}})
        yield client


@pytest.fixture
def chart_rbac(render: Render) -> list[dict[str, Any]]:
    docs = render(FOO, "--set", "watch.scope=namespaces", "--set",
                  f"watch.namespaces={{{NAMESPACE}}}", "--set", "leaderElection.enabled=false")
    return [doc for doc in docs if doc["kind"] in RBAC_KINDS]


def install(admin: kubernetes.client.ApiClient, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        kubernetes.utils.create_from_dict(admin, doc, namespace=RELEASE_NAMESPACE)


def run_operator(server: EmbeddedApiServer, tmp_path: Path) -> subprocess.Popen[str]:
    kubeconfig = server.kubeconfig_for(RELEASE_NAMESPACE, ACCOUNT, path=tmp_path / "sa.kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KOPF_INFORMERS_NAMESPACES": NAMESPACE}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    with (tmp_path / "operator.log").open("w") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", f"--namespace={NAMESPACE}",
             str(ROOT / "operators" / "foo.py")],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def stop(process: subprocess.Popen[str], tmp_path: Path) -> str:
    return stop_operator(process, tmp_path / "operator.log")


def create_foo(admin: kubernetes.client.ApiClient, name: str) -> None:
    CustomObjectsApi(admin).create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo", "metadata": {"name": name},
        "spec": {"deploymentName": f"{name}-deploy", "replicas": 1}})


def ready_reason(admin: kubernetes.client.ApiClient, name: str) -> str | None:
    status = CustomObjectsApi(admin).get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, name).get("status") or {}
    return next((c["reason"] for c in status.get("conditions") or ()), None)


def test_the_operator_converges_as_its_service_account_under_enforced_rbac(
        server: EmbeddedApiServer, admin: kubernetes.client.ApiClient,
        chart_rbac: list[dict[str, Any]], tmp_path: Path) -> None:
    install(admin, chart_rbac)
    process = run_operator(server, tmp_path)
    try:
        create_foo(admin, "a")
        wait_until(lambda: ready_reason(admin, "a") == "Synced", "Foo a synced", timeout=60)
        assert process.poll() is None
    finally:
        stop(process, tmp_path)
    mine = [e for e in server.journal if e.user == USER]
    assert mine, "the operator's requests are journalled as its ServiceAccount"
    # The least rules it used: what a test would write into a Role.
    used = {(e.group, e.resource, e.verb) for e in mine if e.decision == "allow" and e.resource}
    assert ("apps", "deployments", "create") in used
    assert (GROUP, "foos/status", "patch") in used
    denied = {(e.group, e.resource, e.verb) for e in mine if e.decision == "deny"}
    # Kopf asks for namespaces to follow its patterns and falls back to the exact names on 403.
    assert denied <= {("", "namespaces", "list"), ("", "namespaces", "watch")}


def test_the_operator_fails_with_a_403_naming_the_verb_taken_from_its_role(
        server: EmbeddedApiServer, admin: kubernetes.client.ApiClient,
        chart_rbac: list[dict[str, Any]], tmp_path: Path) -> None:
    docs = copy.deepcopy(chart_rbac)
    role = next(d for d in docs if d["kind"] == "Role")
    for rule in role["rules"]:
        if "deployments" in rule["resources"]:
            rule["verbs"].remove("create")
    install(admin, docs)
    process = run_operator(server, tmp_path)
    try:
        create_foo(admin, "a")
        message = (f'deployments.apps is forbidden: User "{USER}" cannot create resource '
                   f'"deployments" in API group "apps" in the namespace "{NAMESPACE}"')
        wait_until(lambda: message in (tmp_path / "operator.log").read_text(),
                   "the operator to report the 403", timeout=60)
    finally:
        stop(process, tmp_path)
    refused = [e for e in server.journal if e.user == USER and e.decision == "deny"
               and e.resource == "deployments"]
    assert refused
    assert all(e.verb == "create" and e.status == 403 for e in refused)


WEBHOOK = ROOT / "charts" / "webhook-operator"
WEBHOOK_ACCOUNT = "release-webhook-operator"
WEBHOOK_USER = f"system:serviceaccount:{RELEASE_NAMESPACE}:{WEBHOOK_ACCOUNT}"
WEBHOOK_SERVICE = "release-webhook-operator-webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_webhook_operator_manages_its_webhook_configurations_under_enforced_rbac(
        render: Render, tmp_path: Path) -> None:
    """Served in one namespace (a Role there), the webhook configurations are cluster-scoped:
    the chart's ClusterRole lets the operator create them and patch them by name, and the API
    server then calls it through the chart's Service (resolved to the operator here)."""
    port = free_port()
    docs = render(WEBHOOK, "--set", "watch.scope=namespaces",
                  "--set", f"watch.namespaces={{{NAMESPACE}}}",
                  "--set", "leaderElection.enabled=false")
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    chart_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    group, version, plural = "webhook.kopf-informers.dev", "v1", "greetings"
    with EmbeddedApiServer(tls=True, rbac=True, kubeconfig=tmp_path / "admin.kubeconfig",
                           webhook_hosts={f"{WEBHOOK_SERVICE}.{RELEASE_NAMESPACE}.svc":
                                          f"127.0.0.1:{port}"}) as server:
        admin = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
        with admin:
            ApiextensionsV1Api(admin).create_custom_resource_definition(
                yaml.safe_load((WEBHOOK / "crds" / "webhook-crd.yaml").read_text()))
            for name in (NAMESPACE, RELEASE_NAMESPACE):
                CoreV1Api(admin).create_namespace({"metadata": {"name": name}})
            install(admin, [doc for doc in docs if doc["kind"] in RBAC_KINDS])
            kubeconfig = server.kubeconfig_for(RELEASE_NAMESPACE, WEBHOOK_ACCOUNT,
                                               path=tmp_path / "sa.kubeconfig")
            env = {**os.environ, **chart_env, "KUBECONFIG": str(kubeconfig),
                   "WEBHOOK_ADDR": "127.0.0.1", "WEBHOOK_PORT": str(port),
                   "WEBHOOK_CERT_DIR": str(tmp_path)}
            env.pop("KUBERNETES_SERVICE_HOST", None)
            with (tmp_path / "operator.log").open("w") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "kopf", "run", "--standalone",
                     f"--namespace={NAMESPACE}", str(ROOT / "operators" / "webhook.py")],
                    env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            custom = CustomObjectsApi(admin)
            admission = kubernetes.client.AdmissionregistrationV1Api(admin)

            def configured() -> bool:
                configs = [*admission.list_validating_webhook_configuration().items,
                           *admission.list_mutating_webhook_configuration().items]
                return len(configs) == 2 and all(
                    c.webhooks and c.webhooks[0].client_config.service is not None
                    and c.webhooks[0].client_config.service.name == WEBHOOK_SERVICE
                    for c in configs)

            try:
                wait_until(configured, "the webhook configurations naming the chart's Service",
                           timeout=60)
                stored = custom.create_namespaced_custom_object(
                    group, version, NAMESPACE, plural, {
                        "apiVersion": f"{group}/{version}", "kind": "Greeting",
                        "metadata": {"name": "world"}, "spec": {"to": "world"}})
                assert stored["spec"]["salutation"] == "Hello"  # defaulted: the webhook ran
                wait_until(lambda: CoreV1Api(admin).list_namespaced_config_map(
                    NAMESPACE, field_selector="metadata.name=world-greeting").items,
                    "its ConfigMap", timeout=60)
                assert process.poll() is None
            finally:
                stop(process, tmp_path)
    mine = [e for e in server.journal if e.user == WEBHOOK_USER and e.resource]
    used = {(e.resource, e.verb, e.name) for e in mine if e.decision == "allow"
            and e.group == "admissionregistration.k8s.io"}
    assert ("validatingwebhookconfigurations", "patch", group) in used
    assert ("mutatingwebhookconfigurations", "patch", group) in used
    denied = {(e.group, e.resource, e.verb) for e in mine if e.decision == "deny"}
    assert denied <= {("", "namespaces", "list"), ("", "namespaces", "watch")}
