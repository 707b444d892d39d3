"""The Foo operator (operators/foo.py) end to end: ``kopf run`` against the embedded server.

The operator runs as a real ``kopf run --standalone -A`` subprocess; the test drives it with the
official client, as a user with kubectl would, and reads the server's journal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from kopf_informers.testing import EmbeddedApiServer, wait_until

OPERATORS = Path(__file__).parents[2] / "operators"
GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """The plugin's ``wait_until``, where a 404 means "not yet"."""
    def found() -> Any:
        try:
            return condition()
        except ApiException as e:
            if e.status != 404:
                raise
            return None
    return wait_until(found, what, timeout=timeout, interval=0.1)


@pytest.fixture
def operator(embedded_apiserver: EmbeddedApiServer, api_client: ApiClient, tmp_path: Path,
             request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    scope = getattr(request, "param", ["-A"])  # Kopf's namespace options: -A, or -n NS
    crd = yaml.safe_load((OPERATORS / "foo-crd.yaml").read_text())
    from kubernetes.client import ApiextensionsV1Api

    ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    log = (tmp_path / "operator.log").open("w")
    env = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", *scope,
         str(OPERATORS / "foo.py")],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(lambda: any(e.verb == "watch" and e.resource == "foos"
                             for e in embedded_apiserver.journal),
                 what="the operator's informers to start")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def create_foo(custom: CustomObjectsApi, name: str, spec: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo", "metadata": {"name": name},
        "spec": spec,
    })


def get_foo(custom: CustomObjectsApi, name: str) -> dict[str, Any]:
    foo: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, "default",
                                                              PLURAL, name)
    return foo


def events_of(core: CoreV1Api, name: str, reason: str) -> list[Any]:
    events = core.list_namespaced_event("default").items
    return [e for e in events if e.involved_object.name == name and e.reason == reason]


def test_a_foo_gets_an_owned_deployment_and_its_status(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api, core_v1: CoreV1Api) -> None:
    create_foo(custom_objects, "example", {"deploymentName": "example-deploy", "replicas": 2})
    deployment = wait_for(lambda: apps_v1.read_namespaced_deployment("example-deploy",
                                                                      "default"))
    foo = get_foo(custom_objects, "example")
    refs = deployment.metadata.owner_references
    assert [(r.kind, r.name, r.uid, r.controller) for r in refs] == [
        ("Foo", "example", foo["metadata"]["uid"], True)]
    assert deployment.spec.replicas == 2
    wait_for(lambda: get_foo(custom_objects, "example").get("status", {})
             .get("availableReplicas") == 2, what="status.availableReplicas")
    wait_for(lambda: events_of(core_v1, "example", "Synced"), what="a Synced event")


@pytest.mark.parametrize("operator", [pytest.param(["-n", "default"], id="namespaced")],
                         indirect=True)
def test_the_operator_also_runs_restricted_to_a_namespace(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api) -> None:
    create_foo(custom_objects, "narrow", {"deploymentName": "narrow-deploy", "replicas": 1})
    wait_for(lambda: apps_v1.read_namespaced_deployment("narrow-deploy", "default"))
    assert operator.poll() is None


def test_a_deleted_deployment_is_recreated_and_an_edited_one_restored(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api, tmp_path: Path) -> None:
    create_foo(custom_objects, "foo", {"deploymentName": "foo-deploy", "replicas": 1})
    first = wait_for(lambda: apps_v1.read_namespaced_deployment("foo-deploy", "default"))
    apps_v1.delete_namespaced_deployment("foo-deploy", "default")
    second = wait_for(lambda: (d := apps_v1.read_namespaced_deployment("foo-deploy", "default"))
                      and d.metadata.uid != first.metadata.uid and d,
                      what="the Deployment to be recreated")
    assert second.spec.replicas == 1
    # Each creation is logged at info, prefixed with the Foo as Kopf prefixes its handlers'.
    created = "[INFO    ] [default/foo] created its Deployment foo-deploy"
    wait_for(lambda: (tmp_path / "operator.log").read_text().count(created) == 2,
             what="two creations logged")
    apps_v1.patch_namespaced_deployment_scale("foo-deploy", "default", {"spec": {"replicas": 5}})
    wait_for(lambda: apps_v1.read_namespaced_deployment("foo-deploy", "default")
             .spec.replicas == 1, what="the replicas to be restored")


def test_a_changed_foo_scales_its_deployment(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api) -> None:
    create_foo(custom_objects, "scaled", {"deploymentName": "scaled-deploy", "replicas": 1})
    wait_for(lambda: apps_v1.read_namespaced_deployment("scaled-deploy", "default"))
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "scaled",
                                                  {"spec": {"replicas": 4}})
    wait_for(lambda: apps_v1.read_namespaced_deployment("scaled-deploy", "default")
             .spec.replicas == 4, what="the Deployment to scale")
    wait_for(lambda: get_foo(custom_objects, "scaled").get("status", {})
             .get("availableReplicas") == 4, what="the status to follow")


def test_a_deployment_owned_by_someone_else_is_never_adopted(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api, core_v1: CoreV1Api) -> None:
    labels = {"app": "theirs"}
    apps_v1.create_namespaced_deployment("default", {
        "metadata": {"name": "taken"},
        "spec": {"replicas": 7, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    })
    create_foo(custom_objects, "greedy", {"deploymentName": "taken", "replicas": 1})
    wait_for(lambda: events_of(core_v1, "greedy", "ErrResourceExists"),
             what="an ErrResourceExists warning")
    deployment = apps_v1.read_namespaced_deployment("taken", "default")
    assert deployment.metadata.owner_references is None
    assert deployment.spec.replicas == 7
    conditions = wait_for(lambda: get_foo(custom_objects, "greedy").get("status", {})
                          .get("conditions"), what="a condition")
    assert (conditions[0]["status"], conditions[0]["reason"]) == ("False", "ErrResourceExists")
    time.sleep(2)  # retrying on a timer would post a warning each time (about ten by now)
    assert len(events_of(core_v1, "greedy", "ErrResourceExists")) == 1

    # Once the conflicting Deployment is gone, the Foo gets its own: it is watched by name. No
    # retry timer could do it, since a blocked Foo has none (no warning followed the first).
    apps_v1.delete_namespaced_deployment("taken", "default")
    mine = wait_for(lambda: (d := apps_v1.read_namespaced_deployment("taken", "default"))
                    .metadata.owner_references and d, what="the Foo's own Deployment")
    assert mine.metadata.owner_references[0].name == "greedy"
    wait_for(lambda: get_foo(custom_objects, "greedy")["status"]["conditions"][0]["status"]
             == "True", what="Ready=True")


def test_a_deployment_the_server_refuses_gets_its_message_in_a_condition_once(
        operator: subprocess.Popen[str], embedded_apiserver: EmbeddedApiServer,
        custom_objects: CustomObjectsApi, core_v1: CoreV1Api) -> None:
    create_foo(custom_objects, "badname", {"deploymentName": "Bad_Name!", "replicas": 1})
    conditions = wait_for(lambda: get_foo(custom_objects, "badname").get("status", {})
                          .get("conditions"), what="a condition")
    assert (conditions[0]["status"], conditions[0]["reason"]) == ("False", "InvalidSpec")
    assert "Bad_Name!" in conditions[0]["message"]
    assert "a lowercase RFC 1123" in conditions[0]["message"]  # the server's own words
    wait_for(lambda: events_of(core_v1, "badname", "InvalidSpec"), what="a Warning event")
    time.sleep(2)  # a retry loop would show here; a refused spec waits for the Foo to change
    # One refused create, and one more from the reconcile that the condition's write causes
    # (retrying with backoff would have made about ten in these two seconds).
    creates = embedded_apiserver.journal.filter(verb="create", resource="deployments")
    assert len(creates) <= 2, [(e.name, e.status) for e in creates]
    assert len(events_of(core_v1, "badname", "InvalidSpec")) == 1


def test_a_renamed_deployment_replaces_the_old_one(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api) -> None:
    create_foo(custom_objects, "renamed", {"deploymentName": "first", "replicas": 1})
    wait_for(lambda: apps_v1.read_namespaced_deployment("first", "default"))
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "renamed",
                                                  {"spec": {"deploymentName": "second"}})
    wait_for(lambda: apps_v1.read_namespaced_deployment("second", "default"))

    def first_gone() -> bool:
        try:
            apps_v1.read_namespaced_deployment("first", "default")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(first_gone, what="the old Deployment deleted")


def test_a_malformed_foo_gets_a_condition_and_an_event_while_others_are_served(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api, core_v1: CoreV1Api) -> None:
    create_foo(custom_objects, "broken", {"replicas": 1})
    create_foo(custom_objects, "fine", {"deploymentName": "fine-deploy", "replicas": 1})
    wait_for(lambda: apps_v1.read_namespaced_deployment("fine-deploy", "default"))
    wait_for(lambda: events_of(core_v1, "broken", "InvalidSpec"), what="an InvalidSpec warning")
    conditions = wait_for(lambda: get_foo(custom_objects, "broken").get("status", {})
                          .get("conditions"), what="a condition")
    assert (conditions[0]["type"], conditions[0]["status"], conditions[0]["reason"]) == (
        "Ready", "False", "InvalidSpec")


def test_a_deleted_foo_takes_its_deployment_with_it(
        operator: subprocess.Popen[str], custom_objects: CustomObjectsApi,
        apps_v1: AppsV1Api) -> None:
    create_foo(custom_objects, "temporary", {"deploymentName": "temp-deploy", "replicas": 1})
    wait_for(lambda: apps_v1.read_namespaced_deployment("temp-deploy", "default"))
    custom_objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                   "temporary")

    def gone() -> bool:
        try:
            apps_v1.read_namespaced_deployment("temp-deploy", "default")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, what="the Deployment to be garbage-collected")


def test_steady_state_reconciles_make_no_api_gets(
        operator: subprocess.Popen[str], embedded_apiserver: EmbeddedApiServer,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api) -> None:
    create_foo(custom_objects, "quiet", {"deploymentName": "quiet-deploy", "replicas": 1})
    wait_for(lambda: get_foo(custom_objects, "quiet").get("status", {})
             .get("availableReplicas") == 1, what="the first sync")
    embedded_apiserver.journal.clear()
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "quiet",
                                                  {"spec": {"replicas": 2}})
    wait_for(lambda: get_foo(custom_objects, "quiet").get("status", {})
             .get("availableReplicas") == 2, what="the operator to scale and report")
    operator = [e for e in embedded_apiserver.journal if e.user_agent.startswith("kopf-informers")]
    assert {e.verb for e in operator} >= {"patch"}  # it did reconcile, through the API
    assert [e for e in operator if e.verb == "get"] == []  # ... and read only its caches
