"""The mirror operator (operators/mirror.py) end to end, on any cluster.

A ConfigMirror is cluster-scoped and its operator serves all namespaces, so each test keeps to
its own: the source lives in the test's namespace, the targets are two namespaces of its own
labelled with a value only this test uses (the mirrors' selector), and its mirrors are named
after the test's namespace. Whatever mirror a test leaves is deleted while its operator still
runs, so that no finalizer outlives the operator that would remove it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _helpers.e2e import CustomObjects, events_of
from kubernetes.client import CoreV1Api, CustomObjectsApi

from kopf_informers.testing import Cluster, Operator, is_not_found, wait_for

GROUP, VERSION, PLURAL = "mirror.kopf-informers.dev", "v1", "configmirrors"
LABEL = "mirror.kopf-informers.dev/mirror"
FINALIZER = "mirror.kopf-informers.dev/copies"
# One cluster for the module, as on kind: each test has namespaces (and an operator) of its own.
pytestmark = pytest.mark.cluster(scope="session")


class Mirrors(CustomObjects):
    """The test's ConfigMirrors, copying from its namespace into namespaces labelled
    ``mirror-e2e=<its namespace>``, through the official client."""

    def __init__(self, custom: CustomObjectsApi, source_namespace: str) -> None:
        super().__init__(custom, GROUP, VERSION, PLURAL, "ConfigMirror")
        self.source_namespace = source_namespace
        self.names: set[str] = set()

    def mirror(self, short: str, kind: str = "ConfigMap", source: str = "shared",
               selector: dict[str, Any] | None = None) -> str:
        """Create a mirror named after the test's namespace; its name."""
        name = f"{self.source_namespace}-{short}"
        self.create(name, {
            "source": {"kind": kind, "namespace": self.source_namespace, "name": source},
            "namespaceSelector": selector or {
                "matchLabels": {"mirror-e2e": self.source_namespace}}})
        self.names.add(name)
        return name

    def gone(self, name: str) -> bool:
        try:
            self.get(name)
        except Exception as e:
            if is_not_found(e):
                return True
            raise
        return False


@pytest.fixture
def targets(cluster: Cluster, core: CoreV1Api, namespace: str) -> Iterator[list[str]]:
    """Two namespaces that the test's mirrors select (deleted afterwards)."""
    names = [cluster.create_namespace(hint=f"t{i}-{namespace}") for i in (1, 2)]
    for name in names:
        select(core, name, namespace)
    yield names
    for name in names:
        cluster.delete_namespace(name)


@pytest.fixture
def mirror_operator(example_operator: Callable[..., Operator]) -> Operator:
    """The mirror operator serving all namespaces (its mirrors are cluster-scoped)."""
    return example_operator("mirror", all_namespaces=True)


@pytest.fixture
def mirrors(mirror_operator: Operator, custom: CustomObjectsApi, cluster: Cluster,
            namespace: str) -> Iterator[Mirrors]:
    made = Mirrors(custom, namespace)
    yield made
    if not mirror_operator.running:
        return
    for name in made.names:  # while the operator runs: it removes their finalizers
        if not made.gone(name):
            made.delete(name)
    for name in made.names:
        wait_for(lambda n=name: made.gone(n), None, f"mirror {name} deleted",
                 timeout=cluster.timeout)


def select(core: CoreV1Api, target: str, source_namespace: str | None) -> None:
    """Label ``target`` into (a name) or out of (None) the test's mirrors' selector."""
    core.patch_namespace(target, {"metadata": {"labels": {"mirror-e2e": source_namespace}}})


def config_map(core: CoreV1Api, namespace: str, data: dict[str, str],
               name: str = "shared") -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": data})


def copies(core: CoreV1Api, mirror: str) -> dict[str, Any]:
    """The mirror's ConfigMaps by namespace: their data."""
    found = core.list_config_map_for_all_namespaces(label_selector=f"{LABEL}={mirror}").items
    assert len({cm.metadata.namespace for cm in found}) == len(found), "one copy a namespace"
    return {cm.metadata.namespace: cm.data for cm in found}


def test_a_mirror_copies_its_source_reports_it_and_follows_it_and_the_namespaces(
        mirrors: Mirrors, core: CoreV1Api, cluster: Cluster, namespace: str,
        targets: list[str]) -> None:
    config_map(core, namespace, {"a": "1"})
    name = mirrors.mirror("cm")
    wait_for(lambda: copies(core, name), lambda c: c == {t: {"a": "1"} for t in targets},
             "a copy in each target namespace", timeout=cluster.timeout)
    ready = wait_for(lambda: mirrors.ready(name), None, "a Ready condition",
                     timeout=cluster.timeout)
    assert (ready["status"], ready["reason"]) == ("True", "Synced")
    status = mirrors.get(name)["status"]
    assert (status["copies"], status["sourceRef"]) == (2, f"{namespace}/shared")
    assert mirrors.get(name)["metadata"]["finalizers"] == [FINALIZER]
    wait_for(lambda: events_of(core, "default", name, "Synced"), None, "a Synced Event",
             timeout=cluster.timeout)

    core.patch_namespaced_config_map("shared", namespace, {"data": {"a": "2"}})
    wait_for(lambda: copies(core, name), lambda c: c == {t: {"a": "2"} for t in targets},
             "the copies follow the source", timeout=cluster.timeout)
    select(core, targets[0], None)  # stops matching: its copy goes
    wait_for(lambda: copies(core, name), lambda c: set(c) == {targets[1]},
             "the copy of a namespace that no longer matches deleted", timeout=cluster.timeout)
    select(core, targets[0], namespace)  # matches again
    wait_for(lambda: copies(core, name), lambda c: set(c) == set(targets),
             "a copy in a namespace that matches again", timeout=cluster.timeout)


def test_a_secret_mirror_waits_for_its_source_then_copies_its_type_and_data(
        mirrors: Mirrors, core: CoreV1Api, cluster: Cluster, namespace: str,
        targets: list[str]) -> None:
    name = mirrors.mirror("secret", kind="Secret", source="creds")
    wait_for(lambda: mirrors.ready(name), lambda c: c and c["reason"] == "SourceNotFound",
             "Ready=False: no source yet", timeout=cluster.timeout)
    token = base64.b64encode(b"s3cret").decode()
    core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"},
                                              "type": "Opaque", "data": {"token": token}})
    for target in targets:
        secret = wait_for(lambda t=target: core.read_namespaced_secret("creds", t), None,
                          f"the Secret copied into {target}", timeout=cluster.timeout)
        assert (secret.type, secret.data) == ("Opaque", {"token": token})
        assert secret.metadata.labels == {LABEL: name}
    wait_for(lambda: mirrors.ready(name), lambda c: c["status"] == "True", "Ready=True",
             timeout=cluster.timeout)


def test_a_copy_deleted_or_edited_by_hand_is_restored(
        mirrors: Mirrors, core: CoreV1Api, cluster: Cluster, namespace: str,
        targets: list[str]) -> None:
    config_map(core, namespace, {"a": "1"})
    name = mirrors.mirror("kept")
    wanted = {t: {"a": "1"} for t in targets}
    wait_for(lambda: copies(core, name), lambda c: c == wanted, "the copies",
             timeout=cluster.timeout)
    first = core.read_namespaced_config_map("shared", targets[0])

    core.delete_namespaced_config_map("shared", targets[0])
    again = wait_for(lambda: core.read_namespaced_config_map("shared", targets[0]),
                     lambda cm: cm.metadata.uid != first.metadata.uid,
                     "the deleted copy made again", timeout=cluster.timeout)
    assert again.data == {"a": "1"}
    core.patch_namespaced_config_map("shared", targets[1], {"data": {"a": "edited"}})
    wait_for(lambda: copies(core, name), lambda c: c == wanted, "the edited copy put back",
             timeout=cluster.timeout)


def test_an_invalid_or_conflicting_mirror_is_not_ready_with_a_warning_and_others_are_served(
        mirrors: Mirrors, core: CoreV1Api, cluster: Cluster, namespace: str,
        targets: list[str]) -> None:
    config_map(core, namespace, {"a": "1"})
    config_map(core, namespace, {"b": "1"}, name="other")
    config_map(core, targets[0], {"theirs": "yes"}, name="other")  # not the mirror's
    broken = mirrors.mirror("broken", selector={"matchExpressions": [
        {"key": "mirror-e2e", "operator": "Resembles", "values": [namespace]}]})
    conflicting = mirrors.mirror("conflicting", source="other")
    fine = mirrors.mirror("fine")

    wait_for(lambda: copies(core, fine), lambda c: set(c) == set(targets),
             "the valid mirror's copies", timeout=cluster.timeout)
    for name, reason in ((broken, "InvalidSpec"), (conflicting, "Conflict")):
        ready = wait_for(lambda n=name: mirrors.ready(n), lambda c: c and c["status"] == "False",
                         f"Ready=False on {name}", timeout=cluster.timeout)
        assert ready["reason"] == reason
        [warning] = wait_for(lambda n=name, r=reason: events_of(core, "default", n, r), None,
                             f"a {reason} Event", timeout=cluster.timeout)
        assert warning.type == "Warning"
    assert targets[0] in mirrors.ready(conflicting)["message"]
    assert core.read_namespaced_config_map("other", targets[0]).data == {"theirs": "yes"}
    assert copies(core, conflicting) == {targets[1]: {"b": "1"}}
    assert copies(core, broken) == {}

    core.delete_namespaced_config_map("other", targets[0])  # out of the way: copied there too
    wait_for(lambda: mirrors.ready(conflicting), lambda c: c["status"] == "True",
             "Ready=True once nothing is in the way", timeout=cluster.timeout)
    assert set(copies(core, conflicting)) == set(targets)


def test_a_deleted_mirror_deletes_its_copies_before_it_goes(
        mirrors: Mirrors, core: CoreV1Api, cluster: Cluster, namespace: str,
        targets: list[str]) -> None:
    config_map(core, namespace, {"a": "1"})
    name = mirrors.mirror("temporary")
    wait_for(lambda: copies(core, name), lambda c: set(c) == set(targets), "the copies",
             timeout=cluster.timeout)
    mirrors.delete(name)
    wait_for(lambda: mirrors.gone(name), None, "the mirror gone", timeout=cluster.timeout)
    assert copies(core, name) == {}  # deleted before its finalizer was removed
    assert core.read_namespaced_config_map("shared", namespace).data == {"a": "1"}


def test_a_killed_operator_converges_without_duplicates_when_started_again(
        mirror_operator: Operator, mirrors: Mirrors, core: CoreV1Api, cluster: Cluster,
        namespace: str, targets: list[str]) -> None:
    config_map(core, namespace, {"a": "1"})
    config_map(core, namespace, {"b": "1"}, name="later")
    one = mirrors.mirror("one")
    wait_for(lambda: copies(core, one), lambda c: set(c) == set(targets), "the copies",
             timeout=cluster.timeout)

    mirror_operator.kill()  # kill -9: nothing drained, nothing cleaned up
    core.patch_namespaced_config_map("shared", namespace, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("shared", targets[0])
    two = mirrors.mirror("two", source="later")
    mirror_operator.start()

    wait_for(lambda: copies(core, one), lambda c: c == {t: {"a": "2"} for t in targets},
             "one's copies made again and updated", timeout=cluster.timeout)
    wait_for(lambda: copies(core, two), lambda c: c == {t: {"b": "1"} for t in targets},
             "two's copies made", timeout=cluster.timeout)
    for name in (one, two):
        wait_for(lambda n=name: mirrors.ready(n), lambda c: c and c["status"] == "True",
                 f"{name} Ready", timeout=cluster.timeout)
        assert mirrors.get(name)["metadata"]["finalizers"] == [FINALIZER]
