"""The webhook operator (operators/webhook.py) end to end, on any cluster.

A Greeting is validated and defaulted by the operator's own admission webhooks (Kopf's
``WebhookServer``, which creates and patches the webhook configurations ``webhook.kopf-
informers.dev``), and reconciled into a ConfigMap. The API server calls the webhooks: the
embedded server and a cluster alike. Operators run by the tests listen on 127.0.0.1, which a
kind node cannot reach: there, run as subprocesses, this module skips unless ``WEBHOOK_HOST``
(and ``WEBHOOK_ADDR``) name an address of this machine that the API server can reach; installed
by its chart (``--operator-mode=in_cluster``), it is called through the chart's Service.

The webhook configurations are cluster-wide: one webhook operator at a time (each test starts
its own), and the configurations are deleted after each test, so that no test leaves webhooks
that a stopped operator cannot answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _helpers.e2e import CustomObjects
from kubernetes.client import AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from kopf_informers.testing import Cluster, Operator, is_not_found, wait_for

GROUP, VERSION, PLURAL = "webhook.kopf-informers.dev", "v1", "greetings"
MANAGED = "webhook.kopf-informers.dev"  # the webhook configurations' name (Kopf's `managed`)
DENIED = ('admission webhook "validate-greeting.webhook.kopf-informers.dev" denied the request: '
          "spec.to must name someone to greet")
# One cluster for the module, as on kind: each test has a namespace (and an operator) of its own.
pytestmark = pytest.mark.cluster(scope="session")


class Greetings(CustomObjects):
    def __init__(self, custom: CustomObjectsApi, namespace: str) -> None:
        super().__init__(custom, GROUP, VERSION, PLURAL, "Greeting", namespace)

    def dry_run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A server-side dry run of a create: admitted (and mutated) or refused, never stored."""
        made: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL,
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Greeting",
             "metadata": {"name": "dry-run"}, "spec": spec}, dry_run="All")
        return made

    def refusal(self, write: Callable[[], Any]) -> tuple[int, str]:
        """The status and message of a write that must be refused."""
        with pytest.raises(ApiException) as refused:
            write()
        return refused.value.status, json.loads(refused.value.body)["message"]


def webhooks_answer(greetings: Greetings) -> bool:
    """Both webhooks of this operator are called: a Greeting without ``to`` is refused by the
    validating one, and one without ``salutation`` defaulted by the mutating one. (A stale
    configuration of an earlier operator fails the calls: not yet.)"""
    try:
        defaulted = greetings.dry_run({"to": "probe"})
    except ApiException:
        return False
    if defaulted["spec"].get("salutation") != "Hello":
        return False
    try:
        greetings.dry_run({})
    except ApiException as e:
        return e.status == 422 and json.loads(e.body)["message"] == DENIED
    return False


@pytest.fixture
def no_webhook_configurations(cluster: Cluster) -> Iterator[None]:
    """Delete the operator's webhook configurations once its test (and operator) ended."""
    yield
    admission = AdmissionregistrationV1Api(cluster.api_client())
    for delete in (admission.delete_validating_webhook_configuration,
                   admission.delete_mutating_webhook_configuration):
        try:
            delete(MANAGED)
        except ApiException as e:
            if not is_not_found(e):
                raise


@pytest.fixture
def greetings(custom: CustomObjectsApi, namespace: str) -> Greetings:
    return Greetings(custom, namespace)


@pytest.fixture
def webhook_operator(no_webhook_configurations: None, cluster: Cluster,
                     example_operator: Callable[..., Operator],
                     greetings: Greetings) -> Operator:
    """The webhook operator serving the test's namespace, synced, its webhooks answering."""
    running = example_operator("webhook")
    if (running.mode != "in_cluster" and cluster.backend != "embedded"
            and not os.environ.get("WEBHOOK_HOST")):
        pytest.skip("the cluster's API server cannot call a webhook on this machine's "
                    "127.0.0.1: set WEBHOOK_HOST and WEBHOOK_ADDR to an address it can reach, "
                    "or run with --operator-mode=in_cluster")
    wait_webhooks(running, greetings, cluster)
    return running


def wait_webhooks(running: Operator, greetings: Greetings, cluster: Cluster) -> None:
    wait_for(lambda: webhooks_answer(greetings), None, f"{running.name}'s webhooks answering",
             timeout=cluster.timeout)


def configmaps(core: CoreV1Api, namespace: str) -> dict[str, Any]:
    """The namespace's ConfigMaps, but the one Kubernetes puts in every namespace."""
    return {c.metadata.name: c for c in core.list_namespaced_config_map(namespace).items
            if c.metadata.name != "kube-root-ca.crt"}


def greeting_of(core: CoreV1Api, namespace: str, name: str) -> str | None:
    found = configmaps(core, namespace).get(f"{name}-greeting")
    return None if found is None else (found.data or {}).get("greeting")


def owners(configmap: Any) -> list[tuple[str, str, bool]]:
    return [(r.kind, r.name, bool(r.controller))
            for r in configmap.metadata.owner_references or ()]


def test_a_greeting_is_defaulted_and_gets_an_owned_configmap(
        webhook_operator: Operator, greetings: Greetings, core: CoreV1Api, cluster: Cluster,
        namespace: str) -> None:
    made = greetings.create("world", {"to": "world"})
    # The mutating webhook defaulted it before it was stored: in the answer, and when read.
    assert made["spec"] == {"to": "world", "salutation": "Hello"}
    assert greetings.get("world")["spec"]["salutation"] == "Hello"
    wait_for(lambda: greeting_of(core, namespace, "world"), lambda g: g == "Hello, world!",
             "the Greeting's ConfigMap", timeout=cluster.timeout)
    [configmap] = configmaps(core, namespace).values()
    assert owners(configmap) == [("Greeting", "world", True)]
    assert configmap.metadata.owner_references[0].uid == made["metadata"]["uid"]
    # Given, it is kept: not defaulted over.
    assert greetings.create("hi", {"to": "you", "salutation": "Hi"})["spec"]["salutation"] == "Hi"
    wait_for(lambda: greeting_of(core, namespace, "hi"), lambda g: g == "Hi, you!",
             "the other Greeting's ConfigMap", timeout=cluster.timeout)


def test_a_changed_greeting_changes_its_configmap_and_is_defaulted_again(
        webhook_operator: Operator, greetings: Greetings, core: CoreV1Api, cluster: Cluster,
        namespace: str) -> None:
    greetings.create("changing", {"to": "world"})
    wait_for(lambda: greeting_of(core, namespace, "changing"), lambda g: g == "Hello, world!",
             "the ConfigMap", timeout=cluster.timeout)

    greetings.patch("changing", {"salutation": "Howdy", "to": "partner"})
    wait_for(lambda: greeting_of(core, namespace, "changing"),
             lambda g: g == "Howdy, partner!", "the ConfigMap follows", timeout=cluster.timeout)

    greetings.patch("changing", {"salutation": None})  # removed: defaulted on update too
    assert greetings.get("changing")["spec"] == {"to": "partner", "salutation": "Hello"}
    wait_for(lambda: greeting_of(core, namespace, "changing"),
             lambda g: g == "Hello, partner!", "the ConfigMap follows again",
             timeout=cluster.timeout)


def test_an_invalid_greeting_is_refused_with_the_handlers_message_and_others_are_served(
        webhook_operator: Operator, greetings: Greetings, core: CoreV1Api, cluster: Cluster,
        namespace: str) -> None:
    for spec in ({}, {"to": ""}, {"to": "   ", "salutation": "Hi"}):
        assert greetings.refusal(lambda s=spec: greetings.create("nobody", s)) == (422, DENIED)
    assert greetings.list() == []

    greetings.create("fine", {"to": "everyone"})
    wait_for(lambda: greeting_of(core, namespace, "fine"), lambda g: g == "Hello, everyone!",
             "the valid Greeting's ConfigMap", timeout=cluster.timeout)
    # An update that makes it invalid is refused too, and changes nothing.
    assert greetings.refusal(lambda: greetings.patch("fine", {"to": ""})) == (422, DENIED)
    assert greetings.get("fine")["spec"]["to"] == "everyone"
    assert set(configmaps(core, namespace)) == {"fine-greeting"}


def test_a_deleted_or_edited_configmap_is_restored_and_a_foreign_one_left_alone(
        webhook_operator: Operator, greetings: Greetings, core: CoreV1Api, cluster: Cluster,
        namespace: str) -> None:
    greetings.create("kept", {"to": "world"})
    first = wait_for(lambda: configmaps(core, namespace).get("kept-greeting"), None,
                     "the ConfigMap", timeout=cluster.timeout)
    core.delete_namespaced_config_map("kept-greeting", namespace)
    second = wait_for(lambda: configmaps(core, namespace).get("kept-greeting"),
                      lambda c: c and c.metadata.uid != first.metadata.uid,
                      "the ConfigMap made again", timeout=cluster.timeout)
    assert owners(second) == [("Greeting", "kept", True)]
    core.patch_namespaced_config_map("kept-greeting", namespace, {"data": {"greeting": "Bye"}})
    wait_for(lambda: greeting_of(core, namespace, "kept"), lambda g: g == "Hello, world!",
             "the edited ConfigMap put back", timeout=cluster.timeout)

    # A ConfigMap of the same name that is not the Greeting's own: never taken over.
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "taken-greeting"},
                                                  "data": {"mine": "yes"}})
    greetings.create("taken", {"to": "someone"})
    greetings.patch("kept", {"to": "everyone"})  # a later change is served: the first was seen
    wait_for(lambda: greeting_of(core, namespace, "kept"), lambda g: g == "Hello, everyone!",
             "the other Greeting still served", timeout=cluster.timeout)
    taken = configmaps(core, namespace)["taken-greeting"]
    assert taken.data == {"mine": "yes"}
    assert owners(taken) == []


def test_a_deleted_greeting_leaves_nothing_behind(
        webhook_operator: Operator, greetings: Greetings, core: CoreV1Api, cluster: Cluster,
        namespace: str) -> None:
    # No finalizer: the ConfigMap goes by garbage collection.
    greetings.create("temporary", {"to": "world"})
    wait_for(lambda: greeting_of(core, namespace, "temporary"), None, "the ConfigMap",
             timeout=cluster.timeout)
    assert "finalizers" not in greetings.get("temporary")["metadata"]
    greetings.delete("temporary")
    wait_for(lambda: configmaps(core, namespace), lambda cms: not cms,
             "no ConfigMap left in the namespace", timeout=cluster.timeout)
    assert greetings.list() == []


def test_a_killed_operator_converges_without_duplicates_when_started_again(
        webhook_operator: Operator, greetings: Greetings, core: CoreV1Api, cluster: Cluster,
        namespace: str) -> None:
    for name in ("one", "two"):
        greetings.create(name, {"to": name})
    wait_for(lambda: configmaps(core, namespace), lambda cms: len(cms) == 2,
             "both ConfigMaps", timeout=cluster.timeout)
    admission = AdmissionregistrationV1Api(cluster.api_client())

    def webhook_names() -> list[list[str]]:
        return [[w.name for w in config.webhooks or ()] for config in (
            admission.read_validating_webhook_configuration(MANAGED),
            admission.read_mutating_webhook_configuration(MANAGED))]

    before = webhook_names()
    assert before == [["validate-greeting.webhook.kopf-informers.dev"],
                      ["default-greeting.webhook.kopf-informers.dev"]]

    webhook_operator.kill()  # kill -9: nothing drained, its webhooks left configured
    core.delete_namespaced_config_map("two-greeting", namespace)
    webhook_operator.start()
    wait_webhooks(webhook_operator, greetings, cluster)  # its new certificate configured
    greetings.create("three", {"to": "three"})

    def converged(cms: dict[str, Any]) -> bool:
        return set(cms) == {"one-greeting", "two-greeting", "three-greeting"}

    found = wait_for(lambda: configmaps(core, namespace), converged,
                     "two made again, three made", timeout=cluster.timeout)
    for name in ("one", "two", "three"):
        assert owners(found[f"{name}-greeting"]) == [("Greeting", name, True)]
        assert found[f"{name}-greeting"].data == {"greeting": f"Hello, {name}!"}
    assert webhook_names() == before  # patched again in place, not added to
    if webhook_operator.mode == "subprocess":  # each creation is logged once
        log = webhook_operator.log()
        assert log.count("created its ConfigMap one-greeting") == 1
        assert log.count("created its ConfigMap two-greeting") == 2
