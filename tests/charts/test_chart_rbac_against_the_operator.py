"""Each chart grants what its operator calls, no more, no less: the operator runs (``kopf
run``, as the chart runs it, serving two namespaces) against the embedded server through every
path of its reconcile, and the server's journal of its requests is compared with the rules the
chart renders. The embedded server does not enforce RBAC (yet): this compares, it does not deny.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _helpers.charts import CHARTS, ROOT, Render, of_kind, rules_of, stop_operator
from kubernetes.client import (
    AdmissionregistrationV1Api,
    ApiClient,
    ApiextensionsV1Api,
    AppsV1Api,
    BatchV1Api,
    CoreV1Api,
    CustomObjectsApi,
)
from kubernetes.client.exceptions import ApiException

from kopf_informers.testing import EmbeddedApiServer, wait_until

SERVED = ("team-a", "team-b")
# Asked for, refused in a real cluster, and then done without: in namespaced mode, Kopf lists
# and watches namespaces to follow its patterns, and falls back to the exact names on a 403
# (kopf/_core/reactor/observation.py). The chart grants them only for globs (and the mirror
# operator's own rules, which follow namespaces).
KOPF_FALLS_BACK_WITHOUT = {("", "namespaces", "list"), ("", "namespaces", "watch")}
TIMEOUT = 30


def wait(check: Callable[[], Any], what: str) -> None:
    wait_until(check, what, timeout=TIMEOUT)


def reason_of(body: dict[str, Any]) -> str | None:
    return next((c["reason"] for c in (body.get("status") or {}).get("conditions") or ()), None)


def exercise_foo(api_client: ApiClient, server: EmbeddedApiServer) -> None:
    """Create, scale, rename, conflict with a foreign Deployment, an invalid spec."""
    group, version, plural, namespace = "samplecontroller.k8s.io", "v1alpha1", "foos", "team-a"
    custom, apps = CustomObjectsApi(api_client), AppsV1Api(api_client)

    def foo(name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(group, version, namespace, plural, {
            "apiVersion": f"{group}/{version}", "kind": "Foo", "metadata": {"name": name},
            "spec": spec})

    def deployment_names() -> set[str]:
        return {d.metadata.name for d in apps.list_namespaced_deployment(namespace).items}

    def ready_reason(name: str) -> str | None:
        return reason_of(custom.get_namespaced_custom_object(group, version, namespace, plural,
                                                             name))

    foo("a", {"deploymentName": "a-one", "replicas": 1})
    wait(lambda: ready_reason("a") == "Synced", "Foo a synced")
    custom.patch_namespaced_custom_object(group, version, namespace, plural, "a",
                                          {"spec": {"replicas": 2}})
    wait(lambda: apps.read_namespaced_deployment("a-one", namespace).spec.replicas == 2,
         "a-one scaled")
    custom.patch_namespaced_custom_object(group, version, namespace, plural, "a",
                                          {"spec": {"deploymentName": "a-two"}})
    wait(lambda: deployment_names() == {"a-two"}, "a-one replaced by a-two")
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "taken"},
        "spec": {"selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [{"name": "x", "image": "x"}]}}}})
    foo("b", {"deploymentName": "taken"})
    foo("c", {"replicas": 1})
    wait(lambda: ready_reason("b") == "ErrResourceExists", "Foo b refused")
    wait(lambda: ready_reason("c") == "InvalidSpec", "Foo c refused")


def exercise_mirror(api_client: ApiClient, server: EmbeddedApiServer) -> None:
    """Copy a ConfigMap and a Secret from team-a into team-b, follow the sources, restore an
    edited copy, change a Secret's type, refuse an invalid selector, delete the mirrors."""
    group, version, plural = "mirror.kopf-informers.dev", "v1", "configmirrors"
    custom, core = CustomObjectsApi(api_client), CoreV1Api(api_client)
    core.patch_namespace("team-b", {"metadata": {"labels": {"copies": "yes"}}})
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    core.create_namespaced_secret("team-a", {"metadata": {"name": "s"}, "type": "Opaque",
                                             "data": {"a": "MQ=="}})

    def mirror(name: str, kind: str, source: str, selector: dict[str, Any]) -> None:
        custom.create_cluster_custom_object(group, version, plural, {
            "apiVersion": f"{group}/{version}", "kind": "ConfigMirror",
            "metadata": {"name": name},
            "spec": {"source": {"kind": kind, "namespace": "team-a", "name": source},
                     "namespaceSelector": selector}})

    def ready_reason(name: str) -> str | None:
        return reason_of(custom.get_cluster_custom_object(group, version, plural, name))

    def copy_data(name: str) -> Any:
        found = core.list_namespaced_config_map("team-b", field_selector=f"metadata.name={name}")
        return found.items[0].data if found.items else None

    def secret_copy(name: str) -> Any:  # None while there is none (deleted, not yet made again)
        found = core.list_namespaced_secret("team-b", field_selector=f"metadata.name={name}")
        return found.items[0] if found.items else None

    selector = {"matchLabels": {"copies": "yes"}}
    mirror("cm", "ConfigMap", "cm", selector)
    mirror("s", "Secret", "s", selector)
    mirror("bad", "ConfigMap", "cm", {"matchExpressions": [{"key": "x", "operator": "Is"}]})
    wait(lambda: ready_reason("cm") == "Synced" and ready_reason("s") == "Synced", "synced")
    wait(lambda: ready_reason("bad") == "InvalidSpec", "an invalid selector refused")

    def message(name: str) -> str | None:
        body = custom.get_cluster_custom_object(group, version, plural, name)
        return next((c["message"] for c in (body.get("status") or {}).get("conditions") or ()),
                    None)

    def counted(times: int) -> bool:  # a cluster-scoped object's Events are in "default"
        return any(e.involved_object.name == "bad" and (e.count or 0) >= times
                   for e in core.list_namespaced_event("default").items)

    # Another invalid selector, then the first again: the same Warning Event, counted up (a
    # patch of the Event, as client-go aggregates repeated ones).
    for operator in ("Was", "Is"):
        before = message("bad")
        custom.patch_cluster_custom_object(group, version, plural, "bad", {"spec": {
            "namespaceSelector": {"matchExpressions": [{"key": "x", "operator": operator}]}}})
        wait(lambda before=before: message("bad") != before, "the invalid selector's message")
    wait(lambda: counted(2), "the same Warning Event counted twice")
    core.patch_namespaced_config_map("cm", "team-a", {"data": {"a": "2"}})
    wait(lambda: copy_data("cm") == {"a": "2"}, "the copy follows its source")
    core.patch_namespaced_config_map("cm", "team-b", {"data": {"a": "edited"}})
    wait(lambda: copy_data("cm") == {"a": "2"}, "an edited copy restored")
    core.delete_namespaced_secret("s", "team-a")
    core.create_namespaced_secret("team-a", {"metadata": {"name": "s"}, "type": "kind/other",
                                             "data": {"a": "MQ=="}})
    wait(lambda: getattr(secret_copy("s"), "type", None) == "kind/other",
         "a copy of another type made again")
    core.patch_namespaced_secret("s", "team-a", {"data": {"a": "Mg=="}})
    wait(lambda: getattr(secret_copy("s"), "data", None) == {"a": "Mg=="},
         "a Secret's copy follows its source")
    # A finalizer's removal is a JSON patch pinned to the version it was computed from; when it
    # conflicts (someone wrote meanwhile), the mirror is read again (a get) and the patch made
    # anew. A race in a cluster; here, the next patch of a ConfigMirror answered 409.
    server.faults.fail("patch", "configmirrors", 409)
    for name in ("cm", "s", "bad"):
        custom.delete_cluster_custom_object(group, version, plural, name)
    wait(lambda: not custom.list_cluster_custom_object(group, version, plural)["items"],
         "the mirrors' finalizers removed")


def exercise_cronjob(api_client: ApiClient, server: EmbeddedApiServer) -> None:
    """Runs that finish (pods simulated) beyond the history limit; invalid schedules, twice."""
    group, version, plural, namespace = "batch.tutorial.kubebuilder.io", "v1", "cronjobs", "team-a"
    custom, batch = CustomObjectsApi(api_client), BatchV1Api(api_client)

    def cronjob(name: str, schedule: str) -> None:
        custom.create_namespaced_custom_object(group, version, namespace, plural, {
            "apiVersion": f"{group}/{version}", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, "successfulJobsHistoryLimit": 0,
                     "jobTemplate": {"spec": {"template": {"spec": {
                         "restartPolicy": "OnFailure",
                         "containers": [{"name": "x", "image": "busybox"}]}}}}}})

    created: set[str] = set()

    def deleted_after_finishing() -> bool:
        now = {job.metadata.name for job in batch.list_namespaced_job(namespace).items}
        created.update(now)
        return len(created - now) >= 2

    cronjob("every-second", "* * * * * *")
    cronjob("bad", "every tuesday")
    wait(deleted_after_finishing, "two finished Jobs deleted (successfulJobsHistoryLimit: 0)")
    warnings = CoreV1Api(api_client)

    def counted(times: int) -> bool:
        events = warnings.list_namespaced_event(namespace).items
        return any(e.involved_object.name == "bad" and (e.count or 0) >= times for e in events)

    for schedule in ("every friday", "every tuesday"):  # the same Event again: counted up
        wait(lambda: counted(1), "a Warning Event about the schedule")
        custom.patch_namespaced_custom_object(group, version, namespace, plural, "bad",
                                              {"spec": {"schedule": schedule}})
    wait(lambda: counted(2), "the same Warning Event counted twice")
    custom.patch_namespaced_custom_object(group, version, namespace, plural, "every-second",
                                          {"spec": {"suspend": True}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# The webhook operator is run with the chart's webhook settings (its Service named in the
# webhook configurations), but listening on this port of 127.0.0.1, where the embedded server
# (which runs no pod) resolves the Service's DNS name to.
WEBHOOK_PORT = free_port()
WEBHOOK_SERVICE = "release-webhook-operator-webhook.ops.svc"


def exercise_webhook(api_client: ApiClient, server: EmbeddedApiServer) -> None:
    """Through the Service: refused without spec.to, defaulted, reconciled into a ConfigMap
    made again when deleted and kept in step; a foreign ConfigMap left alone."""
    group, version, plural, namespace = "webhook.kopf-informers.dev", "v1", "greetings", "team-a"
    custom, core = CustomObjectsApi(api_client), CoreV1Api(api_client)
    admission = AdmissionregistrationV1Api(api_client)

    def configured() -> bool:  # created, and their webhooks patched in, naming the Service
        configs = [*admission.list_validating_webhook_configuration().items,
                   *admission.list_mutating_webhook_configuration().items]
        return len(configs) == 2 and all(
            c.webhooks and all(w.client_config.service is not None
                               and w.client_config.service.name == WEBHOOK_SERVICE.split(".")[0]
                               for w in c.webhooks)
            for c in configs)

    def greeting(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = custom.create_namespaced_custom_object(
            group, version, namespace, plural, {"apiVersion": f"{group}/{version}",
                                                "kind": "Greeting", "metadata": {"name": name},
                                                "spec": spec})
        return made

    def data(name: str) -> Any:
        found = core.list_namespaced_config_map(namespace, field_selector=f"metadata.name={name}")
        return found.items[0].data if found.items else None

    wait(configured, "the webhook configurations naming the Service")
    with pytest.raises(ApiException) as refused:
        greeting("nobody", {})
    assert refused.value.status == 422, refused.value.body
    assert "spec.to must name someone to greet" in json.loads(refused.value.body)["message"]
    assert greeting("world", {"to": "world"})["spec"]["salutation"] == "Hello"
    wait(lambda: data("world-greeting") == {"greeting": "Hello, world!"}, "its ConfigMap")
    custom.patch_namespaced_custom_object(group, version, namespace, plural, "world",
                                          {"spec": {"salutation": "Howdy"}})
    wait(lambda: data("world-greeting") == {"greeting": "Howdy, world!"}, "kept in step")
    core.delete_namespaced_config_map("world-greeting", namespace)
    wait(lambda: data("world-greeting") == {"greeting": "Howdy, world!"}, "made again")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "taken-greeting"},
                                                  "data": {"mine": "yes"}})
    greeting("taken", {"to": "someone"})
    custom.delete_namespaced_custom_object(group, version, namespace, plural, "world")
    wait(lambda: data("taken-greeting") == {"mine": "yes"}, "a foreign ConfigMap left alone")


CASES = [
    pytest.param("foo", exercise_foo, id="foo-operator"),
    pytest.param("mirror", exercise_mirror, id="mirror-operator"),
    pytest.param("cronjob", exercise_cronjob, id="cronjob-operator",
                 marks=pytest.mark.embedded_apiserver(simulate_pods=True, pod_run_time=0.2)),
    pytest.param("webhook", exercise_webhook, id="webhook-operator",
                 marks=pytest.mark.embedded_apiserver(
                     webhook_hosts={WEBHOOK_SERVICE: f"127.0.0.1:{WEBHOOK_PORT}"})),
]


def test_every_chart_has_its_operator_exercised() -> None:
    assert sorted(f"{case.values[0]}-operator" for case in CASES) == sorted(
        chart.name for chart in CHARTS)


def webhook_env(docs: list[dict[str, Any]], tmp_path: Path) -> dict[str, str]:
    """The chart's WEBHOOK_* variables (none without webhooks), but listening on 127.0.0.1 at
    WEBHOOK_PORT, and the certificate written into the test's directory."""
    [deployment] = of_kind(docs, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]
           if item["name"].startswith("WEBHOOK_")}
    if env:
        env.update(WEBHOOK_ADDR="127.0.0.1", WEBHOOK_PORT=str(WEBHOOK_PORT),
                   WEBHOOK_CERT_DIR=str(tmp_path))
    return env


@pytest.fixture
def operator_in_two_namespaces(
        request: pytest.FixtureRequest, embedded_apiserver: EmbeddedApiServer,
        api_client: ApiClient, render: Render, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    name = request.node.callspec.params["name"]
    ApiextensionsV1Api(api_client).create_custom_resource_definition(
        yaml.safe_load((ROOT / "charts" / f"{name}-operator" / "crds" / f"{name}-crd.yaml")
                       .read_text()))
    for namespace in SERVED:
        CoreV1Api(api_client).create_namespace({"metadata": {"name": namespace}})
    log = (tmp_path / "operator.log").open("w")
    env = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig),
           "KOPF_INFORMERS_NAMESPACES": ",".join(SERVED),  # as the chart sets them
           **webhook_env(render(ROOT / "charts" / f"{name}-operator"), tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone",
         *[f"--namespace={namespace}" for namespace in SERVED],
         str(ROOT / "operators" / f"{name}.py")],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: any(e.verb == "watch" and e.user_agent.startswith("kopf")
                               for e in embedded_apiserver.journal),
                   "the operator's informers to start", timeout=TIMEOUT)
        yield process
    finally:
        log.close()
        stop_operator(process, tmp_path / "operator.log")


@pytest.mark.parametrize(("name", "exercise"), CASES)
def test_the_chart_grants_exactly_what_the_operator_calls_in_its_namespaces(
        name: str, exercise: Callable[[ApiClient, EmbeddedApiServer], None],
        operator_in_two_namespaces: subprocess.Popen[str],
        embedded_apiserver: EmbeddedApiServer, api_client: ApiClient, render: Render) -> None:
    exercise(api_client, embedded_apiserver)
    assert operator_in_two_namespaces.poll() is None

    calls = [e for e in embedded_apiserver.journal if e.user_agent.startswith("kopf")
             and e.resource]
    called = {(e.group, e.resource, e.verb) for e in calls}
    docs = render(ROOT / "charts" / f"{name}-operator", "--set", "watch.scope=namespaces",
                  "--set", f"watch.namespaces={{{','.join(SERVED)}}}",
                  "--set", "leaderElection.enabled=false")
    cluster_role, *_ = of_kind(docs, "ClusterRole")
    roles = of_kind(docs, "Role")
    granted = {rule for doc in [cluster_role, *roles] for rule in rules_of(doc)}
    assert called - KOPF_FALLS_BACK_WITHOUT <= granted, "called, but not granted"
    assert granted <= called, "granted, but never called"
    # ... and where: in the served namespaces, what the chart grants there (a Role each);
    # anywhere else (cluster-scoped, or the Events of a cluster-scoped object in "default"),
    # what the chart grants cluster-wide.
    assert {e.namespace for e in calls} - {None} <= {*SERVED, "default"}
    elsewhere = {(e.group, e.resource, e.verb) for e in calls if e.namespace not in SERVED}
    assert elsewhere - KOPF_FALLS_BACK_WITHOUT <= rules_of(cluster_role)
    served = {(e.group, e.resource, e.verb) for e in calls if e.namespace in SERVED}
    assert all(served <= rules_of(role) for role in roles)
