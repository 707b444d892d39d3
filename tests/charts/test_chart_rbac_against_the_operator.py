"""The chart grants what the Foo operator calls, no more, no less: the operator runs (``kopf
run``, as the chart runs it, serving one namespace) against the embedded server through every
path of its reconcile, and the server's journal of its requests is compared with the rules the
chart renders. The embedded server does not enforce RBAC (yet): this compares, it does not deny.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _helpers.charts import ROOT, Render, of_kind, stop_operator
from kubernetes.client import (
    ApiClient,
    ApiextensionsV1Api,
    AppsV1Api,
    CoreV1Api,
    CustomObjectsApi,
)

from kopf_informers.testing import EmbeddedApiServer, wait_until

FOO = ROOT / "charts" / "foo-operator"
NAMESPACE = "team-a"
GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
# Asked for, refused in a real cluster, and then done without: in namespaced mode, Kopf lists
# and watches namespaces to follow its patterns, and falls back to the exact names on a 403
# (kopf/_core/reactor/observation.py). The chart grants them only for globs.
KOPF_FALLS_BACK_WITHOUT = {("", "namespaces", "list"), ("", "namespaces", "watch")}


@pytest.fixture
def foo_operator_in_one_namespace(
        embedded_apiserver: EmbeddedApiServer, api_client: ApiClient,
        tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    ApiextensionsV1Api(api_client).create_custom_resource_definition(
        yaml.safe_load((FOO / "crds" / "foo-crd.yaml").read_text()))
    CoreV1Api(api_client).create_namespace({"metadata": {"name": NAMESPACE}})
    log = (tmp_path / "operator.log").open("w")
    env = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig),
           "KOPF_INFORMERS_NAMESPACES": NAMESPACE}  # as the chart sets them
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", f"--namespace={NAMESPACE}",
         str(ROOT / "operators" / "foo.py")],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: any(e.verb == "watch" and e.resource == "foos"
                               for e in embedded_apiserver.journal),
                   "the operator's informers to start", timeout=30)
        yield process
    finally:
        log.close()
        stop_operator(process, tmp_path / "operator.log")


def exercise_every_path(api_client: ApiClient) -> None:
    """Create, scale, rename, conflict with a foreign Deployment, an invalid spec."""
    custom, apps = CustomObjectsApi(api_client), AppsV1Api(api_client)

    def foo(name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo", "metadata": {"name": name},
            "spec": spec})

    def deployment_names() -> set[str]:
        return {d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items}

    def ready_reason(name: str) -> str | None:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                     name).get("status") or {}
        return next((c["reason"] for c in status.get("conditions") or ()), None)

    foo("a", {"deploymentName": "a-one", "replicas": 1})
    wait_until(lambda: ready_reason("a") == "Synced", "Foo a synced", timeout=30)
    custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "a",
                                          {"spec": {"replicas": 2}})
    wait_until(lambda: apps.read_namespaced_deployment("a-one", NAMESPACE).spec.replicas == 2,
               "a-one scaled", timeout=30)
    custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "a",
                                          {"spec": {"deploymentName": "a-two"}})
    wait_until(lambda: deployment_names() == {"a-two"}, "a-one replaced by a-two", timeout=30)
    apps.create_namespaced_deployment(NAMESPACE, {
        "metadata": {"name": "taken"},
        "spec": {"selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [{"name": "x", "image": "x"}]}}}})
    foo("b", {"deploymentName": "taken"})
    foo("c", {"replicas": 1})
    wait_until(lambda: ready_reason("b") == "ErrResourceExists", "Foo b refused", timeout=30)
    wait_until(lambda: ready_reason("c") == "InvalidSpec", "Foo c refused", timeout=30)


def test_the_chart_grants_exactly_what_the_operator_calls_in_its_namespaces(
        foo_operator_in_one_namespace: subprocess.Popen[str],
        embedded_apiserver: EmbeddedApiServer, api_client: ApiClient, render: Render) -> None:
    exercise_every_path(api_client)
    assert foo_operator_in_one_namespace.poll() is None

    called = {(e.group, e.resource, e.verb) for e in embedded_apiserver.journal
              if e.user_agent.startswith("kopf") and e.resource}
    docs = render(FOO, "--set", "watch.scope=namespaces", "--set",
                  f"watch.namespaces={{{NAMESPACE}}}", "--set", "leaderElection.enabled=false")
    granted = {(group, resource, verb) for doc in of_kind(docs, "Role") + of_kind(
                   docs, "ClusterRole") for rule in doc["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert called - KOPF_FALLS_BACK_WITHOUT <= granted, "called, but not granted"
    assert granted <= called, "granted, but never called"
    # ... and in the served namespace only, where the chart puts the Role; the rest is
    # cluster-scoped (the chart's ClusterRole).
    namespaces = {e.namespace for e in embedded_apiserver.journal
                  if e.user_agent.startswith("kopf") and e.resource}
    assert namespaces == {NAMESPACE, None}
