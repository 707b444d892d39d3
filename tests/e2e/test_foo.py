"""The Foo operator (operators/foo.py) end to end, on any cluster.

kubernetes/sample-controller's Foo → Deployment: each test applies the CRD, starts the operator
for a fresh namespace, and drives it through the official client as a user would. On the
embedded server Deployment status is simulated; on kind the pods run (nginx).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _helpers.e2e import CustomObjects, events_of
from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi

from kopf_informers.testing import Cluster, Operator, wait_for

GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
# One cluster for the module, as on kind: each test has a namespace (and an operator) of its own.
pytestmark = pytest.mark.cluster(scope="session")


@pytest.fixture
def foo_operator(example_operator: Callable[..., Operator]) -> Operator:
    """The Foo operator serving the test's namespace, started and synced."""
    return example_operator("foo")


@pytest.fixture
def foos(custom: CustomObjectsApi, namespace: str) -> CustomObjects:
    return CustomObjects(custom, GROUP, VERSION, PLURAL, "Foo", namespace)


def owners(deployment: Any) -> list[tuple[str, str, bool]]:
    return [(r.kind, r.name, bool(r.controller))
            for r in deployment.metadata.owner_references or ()]


def deployments_in(apps: AppsV1Api, namespace: str) -> dict[str, Any]:
    return {d.metadata.name: d for d in apps.list_namespaced_deployment(namespace).items}


def test_a_foo_gets_an_owned_deployment_its_status_and_an_event(
        foo_operator: Operator, foos: CustomObjects, apps: AppsV1Api, core: CoreV1Api,
        cluster: Cluster, namespace: str) -> None:
    foo = foos.create("example", {"deploymentName": "example-web", "replicas": 2})
    deployment = wait_for(lambda: apps.read_namespaced_deployment("example-web", namespace),
                          what="the Foo's Deployment", timeout=cluster.timeout)
    assert owners(deployment) == [("Foo", "example", True)]
    assert deployment.metadata.owner_references[0].uid == foo["metadata"]["uid"]
    assert deployment.spec.replicas == 2
    wait_for(lambda: foos.status("example"), lambda s: s.get("availableReplicas") == 2,
             "status.availableReplicas == 2", timeout=cluster.timeout)
    ready = wait_for(lambda: foos.ready("example"), None, "a Ready condition",
                     timeout=cluster.timeout)
    assert (ready["status"], ready["reason"]) == ("True", "Synced")
    wait_for(lambda: events_of(core, namespace, "example", "Synced"), None, "a Synced Event",
             timeout=cluster.timeout)


def test_a_changed_foo_changes_its_deployment(
        foo_operator: Operator, foos: CustomObjects, apps: AppsV1Api, cluster: Cluster,
        namespace: str) -> None:
    foos.create("changing", {"deploymentName": "first", "replicas": 1})
    wait_for(lambda: apps.read_namespaced_deployment("first", namespace),
             what="the first Deployment", timeout=cluster.timeout)

    foos.patch("changing", {"replicas": 3})
    wait_for(lambda: apps.read_namespaced_deployment("first", namespace),
             lambda d: d.spec.replicas == 3, "the Deployment scaled to 3",
             timeout=cluster.timeout)
    wait_for(lambda: foos.status("changing"), lambda s: s.get("availableReplicas") == 3,
             "the status follows", timeout=cluster.timeout)

    foos.patch("changing", {"deploymentName": "second"})
    wait_for(lambda: deployments_in(apps, namespace), lambda ds: set(ds) == {"second"},
             "the Deployment renamed: second made, first deleted", timeout=cluster.timeout)


def test_a_deleted_or_edited_deployment_is_restored(
        foo_operator: Operator, foos: CustomObjects, apps: AppsV1Api, cluster: Cluster,
        namespace: str) -> None:
    foos.create("kept", {"deploymentName": "kept-web", "replicas": 1})
    first = wait_for(lambda: apps.read_namespaced_deployment("kept-web", namespace),
                     what="the Deployment", timeout=cluster.timeout)

    apps.delete_namespaced_deployment("kept-web", namespace)
    second = wait_for(lambda: apps.read_namespaced_deployment("kept-web", namespace),
                      lambda d: d.metadata.uid != first.metadata.uid,
                      "the Deployment made again", timeout=cluster.timeout)
    assert owners(second) == [("Foo", "kept", True)]
    assert second.spec.replicas == 1

    apps.patch_namespaced_deployment_scale("kept-web", namespace, {"spec": {"replicas": 4}})
    wait_for(lambda: apps.read_namespaced_deployment("kept-web", namespace),
             lambda d: d.spec.replicas == 1, "the replicas put back to 1",
             timeout=cluster.timeout)
    if foo_operator.mode == "subprocess":  # each creation is logged, with the Foo's name
        created = f"[{namespace}/kept] created its Deployment kept-web"
        wait_for(lambda: foo_operator.log().count(created), lambda n: n == 2,
                 "two creations logged", timeout=cluster.timeout)


def test_an_invalid_foo_is_not_ready_with_a_warning_and_others_are_still_served(
        foo_operator: Operator, foos: CustomObjects, apps: AppsV1Api, core: CoreV1Api,
        cluster: Cluster, namespace: str) -> None:
    foos.create("broken", {"replicas": 1})  # no deploymentName
    foos.create("fine", {"deploymentName": "fine-web", "replicas": 1})
    wait_for(lambda: apps.read_namespaced_deployment("fine-web", namespace),
             what="the valid Foo's Deployment", timeout=cluster.timeout)
    ready = wait_for(lambda: foos.ready("broken"), None, "a Ready condition on the invalid Foo",
                     timeout=cluster.timeout)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    [warning] = wait_for(lambda: events_of(core, namespace, "broken", "InvalidSpec"), None,
                         "an InvalidSpec Event", timeout=cluster.timeout)
    assert warning.type == "Warning"
    assert set(deployments_in(apps, namespace)) == {"fine-web"}

    foos.patch("broken", {"deploymentName": "fixed-web"})  # fixed: served from now on
    wait_for(lambda: foos.ready("broken"), lambda c: c and c["status"] == "True",
             "Ready=True once fixed", timeout=cluster.timeout)


def test_a_deleted_foo_leaves_nothing_behind(
        foo_operator: Operator, foos: CustomObjects, apps: AppsV1Api, cluster: Cluster,
        namespace: str) -> None:
    # The Foo operator has no finalizer: the Deployment goes by garbage collection.
    foos.create("temporary", {"deploymentName": "temporary-web", "replicas": 1})
    wait_for(lambda: apps.read_namespaced_deployment("temporary-web", namespace),
             what="the Deployment", timeout=cluster.timeout)
    foos.delete("temporary")
    wait_for(lambda: deployments_in(apps, namespace), lambda ds: not ds,
             "no Deployment left in the namespace", timeout=cluster.timeout)
    assert foos.list() == []


def test_a_killed_operator_converges_without_duplicates_when_started_again(
        foo_operator: Operator, foos: CustomObjects, apps: AppsV1Api, cluster: Cluster,
        namespace: str) -> None:
    for name in ("one", "two"):
        foos.create(name, {"deploymentName": f"{name}-web", "replicas": 1})
    wait_for(lambda: deployments_in(apps, namespace), lambda ds: len(ds) == 2,
             "both Deployments", timeout=cluster.timeout)

    foo_operator.kill()  # kill -9: nothing drained, nothing cleaned up
    foos.patch("one", {"replicas": 2})
    apps.delete_namespaced_deployment("two-web", namespace)
    foos.create("three", {"deploymentName": "three-web", "replicas": 1})
    foo_operator.start()

    def converged(ds: dict[str, Any]) -> bool:
        return (set(ds) == {"one-web", "two-web", "three-web"}
                and ds["one-web"].spec.replicas == 2)

    deployments = wait_for(lambda: deployments_in(apps, namespace), converged,
                           "one scaled, two made again, three made", timeout=cluster.timeout)
    for name in ("one", "two", "three"):
        assert owners(deployments[f"{name}-web"]) == [("Foo", name, True)]
        wait_for(lambda n=name: foos.ready(n), lambda c: c and c["status"] == "True",
                 f"{name} Ready", timeout=cluster.timeout)
