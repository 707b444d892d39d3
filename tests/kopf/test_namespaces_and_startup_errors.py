"""The Foo operator (operators/foo.py) under ``kopf run`` serves the namespaces Kopf serves, and
stops at once, in one line, on a startup error that retrying cannot fix.

Each test runs ``kopf run --standalone`` as a subprocess against the embedded server (the
harness's ``operator`` fixture) and reads the server's journal: with ``-n a`` no request of the
operator's names another namespace and none lists or watches a namespaced resource cluster-wide.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf
import pytest
from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi

import kopf_informers._kopf
from kopf_informers._namespaces import NamespaceScope
from kopf_informers.testing import (
    Cluster,
    EmbeddedApiServer,
    JournalEntry,
    Operator,
    wait_until,
)

OPERATORS = Path(__file__).parents[2] / "operators"
GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
TIMEOUT = 30.0  # seconds: the longest wait for the operator to start or act
EXIT_TIMEOUT = 20.0  # seconds: a failed start must end the process well within this
TEST_CLIENT = "OpenAPI-Generator"  # the official client's user agent: the test's own requests


pytestmark = [
    pytest.mark.embedded,  # the journal says what the operator asked for
    pytest.mark.cluster(scope="test"),  # the `cluster` is the test's `embedded_apiserver`
]
FOO = OPERATORS / "foo.py"


@pytest.fixture
def foo_crd(cluster: Cluster) -> None:
    cluster.apply(OPERATORS / "foo-crd.yaml")  # returns once it is served


def create_foo(custom: CustomObjectsApi, namespace: str, name: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo", "metadata": {"name": name},
        "spec": {"deploymentName": f"{name}-deploy", "replicas": 1},
    })


def deployments(apps: AppsV1Api) -> set[str]:
    return {f"{d.metadata.namespace}/{d.metadata.name}"
            for d in apps.list_deployment_for_all_namespaces().items}


def operator_requests(server: EmbeddedApiServer) -> list[JournalEntry]:
    return [e for e in server.journal if not e.user_agent.startswith(TEST_CLIENT)]


def watching(server: EmbeddedApiServer, namespace: str) -> Callable[[], bool]:
    return lambda: any(e.verb == "watch" and e.resource == "deployments"
                       and e.namespace == namespace for e in server.journal)


# -- namespaces -----------------------------------------------------------------------------------


def test_an_operator_run_with_a_namespace_never_touches_another(
        foo_crd: None, embedded_apiserver: EmbeddedApiServer, core_v1: CoreV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api,
        operator: Callable[..., Operator]) -> None:
    for namespace in ("a", "b"):
        core_v1.create_namespace({"metadata": {"name": namespace}})
        create_foo(custom_objects, namespace, "early")
    running = operator(FOO, namespaces=["a"])
    wait_until(watching(embedded_apiserver, "a"), "the operator watches a", timeout=TIMEOUT)
    create_foo(custom_objects, "a", "late")
    create_foo(custom_objects, "b", "late")
    wait_until(lambda: {"a/early-deploy", "a/late-deploy"} <= deployments(apps_v1),
               "the Deployments in a", timeout=TIMEOUT)
    # A sentinel: once a Foo created after b's is reconciled, b's would have been too.
    create_foo(custom_objects, "a", "sentinel")
    wait_until(lambda: "a/sentinel-deploy" in deployments(apps_v1), "the sentinel",
               timeout=TIMEOUT)

    assert deployments(apps_v1) == {"a/early-deploy", "a/late-deploy", "a/sentinel-deploy"}
    requests = operator_requests(embedded_apiserver)
    assert not [e for e in requests if e.namespace == "b"], running.log()[-3000:]
    namespaced = {"foos", "deployments", "events", "foos/status"}
    assert not [e for e in requests if e.resource in namespaced and e.namespace is None]
    assert "waiting for 2 caches to sync ('a')" in running.log()


def test_a_namespace_glob_follows_namespaces_created_after_the_start(
        foo_crd: None, embedded_apiserver: EmbeddedApiServer, core_v1: CoreV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api,
        operator: Callable[..., Operator]) -> None:
    core_v1.create_namespace({"metadata": {"name": "team-a"}})
    core_v1.create_namespace({"metadata": {"name": "other"}})
    create_foo(custom_objects, "other", "ignored")
    operator(FOO, namespaces=["team-*"])
    wait_until(watching(embedded_apiserver, "team-a"), "the operator watches team-a",
               timeout=TIMEOUT)
    core_v1.create_namespace({"metadata": {"name": "team-b"}})
    wait_until(watching(embedded_apiserver, "team-b"), "the operator watches team-b",
               timeout=TIMEOUT)
    create_foo(custom_objects, "team-b", "new")
    wait_until(lambda: "team-b/new-deploy" in deployments(apps_v1), "the Deployment in team-b",
               timeout=TIMEOUT)
    assert "other/ignored-deploy" not in deployments(apps_v1)
    assert not [e for e in operator_requests(embedded_apiserver) if e.namespace == "other"]


def test_configured_namespaces_win_and_a_disagreement_with_kopf_is_said_once(
        foo_crd: None, embedded_apiserver: EmbeddedApiServer, core_v1: CoreV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api,
        operator: Callable[..., Operator]) -> None:
    core_v1.create_namespace({"metadata": {"name": "a"}})
    running = operator(FOO, namespaces=["b"], env={"KOPF_INFORMERS_NAMESPACES": "a"})
    wait_until(watching(embedded_apiserver, "a"), "the operator watches a", timeout=TIMEOUT)
    create_foo(custom_objects, "a", "configured")
    wait_until(lambda: "a/configured-deploy" in deployments(apps_v1), "the Deployment in a",
               timeout=TIMEOUT)
    warnings = [line for line in running.log().splitlines() if "as configured, but" in line]
    assert len(warnings) == 1, running.log()[-3000:]
    assert "kopf-informers serves 'a' as configured, but Kopf serves 'b'" in warnings[0]


# A startup that fails leaves Kopf's never-started authenticator coroutine behind: Kopf's leak.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_namespaces_of_kopf_operator_are_read_from_the_kopf_version_in_use() -> None:
    """``kopf.operator(namespaces=...)`` tells its namespaces to no handler: the library reads
    them from Kopf's namespace observer, a private detail. This fails when Kopf moves it."""
    seen: list[NamespaceScope | None] = []
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def read(settings: kopf.OperatorSettings, **_: Any) -> None:
        seen.append(kopf_informers._kopf.kopf_namespaces(settings))
        raise kopf.PermanentError("done reading")  # ends the operator without any API call

    async def main() -> None:
        await kopf.operator(registry=registry, namespaces=["a", "team-*"], standalone=True)

    with pytest.raises(Exception, match="One or more handlers failed"):  # Kopf's ActivityError
        asyncio.run(main())
    assert seen == [NamespaceScope(("a", "team-*"))]


# -- errors at startup ----------------------------------------------------------------------------


def one_line(operator: Operator, text: str) -> str:
    log = operator.log()
    lines = [line for line in log.splitlines() if text in line]
    assert len(lines) == 1, log[-4000:]
    assert "Traceback" not in log, log[-4000:]
    return lines[0]


def test_missing_credentials_stop_the_operator_at_once_in_one_line(
        tmp_path: Path, operator: Callable[..., Operator]) -> None:
    started = time.monotonic()
    running = operator(FOO, wait=False, env={"KUBECONFIG": str(tmp_path / "missing.kubeconfig"),
                                             "HOME": str(tmp_path)})
    assert running.wait_exited(EXIT_TIMEOUT) == 1
    line = one_line(running, "kopf-informers cannot start:")
    assert "no usable Kubernetes credentials" in line
    assert "set KUBECONFIG" in line
    print(f"exited after {time.monotonic() - started:.1f} s: {line}")


def test_an_unknown_resource_stops_the_operator_at_once_in_one_line(
        operator: Callable[..., Operator]) -> None:
    running = operator(FOO, wait=False)  # no Foo CRD installed
    assert running.wait_exited(EXIT_TIMEOUT) == 1
    line = one_line(running, "kopf-informers cannot start:")
    assert f"serves no resource '{GROUP}/{VERSION}/{PLURAL}'" in line


def test_a_forbidden_list_stops_the_operator_at_once_naming_what_to_grant(
        foo_crd: None, embedded_apiserver: EmbeddedApiServer,
        operator: Callable[..., Operator]) -> None:
    embedded_apiserver.faults.fail("list", "deployments", 403, percent=100,
                                   message="deployments.apps is forbidden: User cannot list")
    running = operator(FOO, namespaces=["default"], wait=False)
    assert running.wait_exited(EXIT_TIMEOUT) == 1
    line = one_line(running, "kopf-informers cannot start:")
    assert "forbidden: list apps/v1/deployments in namespace default: 403" in line
    assert "grant the operator's account 'list' (and 'watch') on apps/v1/deployments in " \
           "namespace default" in line
