"""The Foo operator (operators/foo.py) under ``kopf run``: what the e2e suite cannot see.

The Foo's life on any cluster (create, update, restore, invalid specs, deletion, restarts) is
``tests/e2e/test_foo.py``; these tests read the embedded server's journal (what the operator
asked of the API) or count Warnings over time, so they run on the embedded server only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from _helpers.e2e import OPERATORS, events_of
from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi

from kopf_informers.testing import Cluster, EmbeddedApiServer, Operator, wait_for

GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
TIMEOUT = 30.0

pytestmark = [
    pytest.mark.embedded,  # the journal says what the operator asked for
    pytest.mark.cluster(scope="test"),  # the `cluster` is the test's `embedded_apiserver`
]


@pytest.fixture
def foo_operator(cluster: Cluster, operator: Callable[..., Operator]) -> Operator:
    cluster.apply(OPERATORS / "foo-crd.yaml")
    return operator(OPERATORS / "foo.py", namespaces=["default"])


def create_foo(custom_objects: CustomObjectsApi, name: str, spec: dict[str, Any]) -> None:
    custom_objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo", "metadata": {"name": name},
        "spec": spec,
    })


def get_foo(custom_objects: CustomObjectsApi, name: str) -> dict[str, Any]:
    foo: dict[str, Any] = custom_objects.get_namespaced_custom_object(GROUP, VERSION, "default",
                                                              PLURAL, name)
    return foo


def test_a_deployment_owned_by_someone_else_is_never_adopted(
        foo_operator: Operator, custom_objects: CustomObjectsApi, apps_v1: AppsV1Api,
        core_v1: CoreV1Api) -> None:
    labels = {"app": "theirs"}
    apps_v1.create_namespaced_deployment("default", {
        "metadata": {"name": "taken"},
        "spec": {"replicas": 7, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    })
    create_foo(custom_objects, "greedy", {"deploymentName": "taken", "replicas": 1})
    wait_for(lambda: events_of(core_v1, "default", "greedy", "ErrResourceExists"), None,
             "an ErrResourceExists warning", timeout=TIMEOUT)
    deployment = apps_v1.read_namespaced_deployment("taken", "default")
    assert deployment.metadata.owner_references is None
    assert deployment.spec.replicas == 7
    conditions = wait_for(lambda: get_foo(custom_objects, "greedy").get("status", {})
                          .get("conditions"), None, "a condition", timeout=TIMEOUT)
    assert (conditions[0]["status"], conditions[0]["reason"]) == ("False", "ErrResourceExists")
    time.sleep(2)  # retrying on a timer would post a warning each time (about ten by now)
    assert len(events_of(core_v1, "default", "greedy", "ErrResourceExists")) == 1

    # Once the conflicting Deployment is gone, the Foo gets its own: it is watched by name. No
    # retry timer could do it, since a blocked Foo has none (no warning followed the first).
    apps_v1.delete_namespaced_deployment("taken", "default")
    mine = wait_for(lambda: apps_v1.read_namespaced_deployment("taken", "default"),
                    lambda d: d.metadata.owner_references, "the Foo's own Deployment",
                    timeout=TIMEOUT)
    assert mine.metadata.owner_references[0].name == "greedy"
    wait_for(lambda: get_foo(custom_objects, "greedy")["status"]["conditions"][0]["status"],
             lambda status: status == "True", "Ready=True", timeout=TIMEOUT)


def test_a_deployment_the_server_refuses_gets_its_message_in_a_condition_once(
        foo_operator: Operator, embedded_apiserver: EmbeddedApiServer,
        custom_objects: CustomObjectsApi, core_v1: CoreV1Api) -> None:
    create_foo(custom_objects, "badname", {"deploymentName": "Bad_Name!", "replicas": 1})
    conditions = wait_for(lambda: get_foo(custom_objects, "badname").get("status", {})
                          .get("conditions"), None, "a condition", timeout=TIMEOUT)
    assert (conditions[0]["status"], conditions[0]["reason"]) == ("False", "InvalidSpec")
    assert "Bad_Name!" in conditions[0]["message"]
    assert "a lowercase RFC 1123" in conditions[0]["message"]  # the server's own words
    wait_for(lambda: events_of(core_v1, "default", "badname", "InvalidSpec"), None,
             "a Warning event", timeout=TIMEOUT)
    time.sleep(2)  # a retry loop would show here; a refused spec waits for the Foo to change
    # One refused create, and one more from the reconcile that the condition's write causes
    # (retrying with backoff would have made about ten in these two seconds).
    creates = embedded_apiserver.journal.filter(verb="create", resource="deployments")
    assert len(creates) <= 2, [(e.name, e.status) for e in creates]
    assert len(events_of(core_v1, "default", "badname", "InvalidSpec")) == 1


def test_steady_state_reconciles_make_no_api_gets(
        foo_operator: Operator, embedded_apiserver: EmbeddedApiServer,
        custom_objects: CustomObjectsApi) -> None:
    create_foo(custom_objects, "quiet", {"deploymentName": "quiet-deploy", "replicas": 1})
    wait_for(lambda: get_foo(custom_objects, "quiet").get("status", {}).get("availableReplicas"),
             lambda available: available == 1, "the first sync", timeout=TIMEOUT)
    embedded_apiserver.journal.clear()
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "quiet",
                                                  {"spec": {"replicas": 2}})
    wait_for(lambda: get_foo(custom_objects, "quiet").get("status", {}).get("availableReplicas"),
             lambda available: available == 2, "the operator to scale and report",
             timeout=TIMEOUT)
    requests = [e for e in embedded_apiserver.journal if e.user_agent.startswith("kopf-informers")]
    assert {e.verb for e in requests} >= {"patch"}  # it did reconcile, through the API
    assert [e for e in requests if e.verb == "get"] == []  # ... and read only its caches
