"""The real Kopf runs operators against the embedded API server, out of process and in process.

The operator is ``operators/foo_operator.py`` (Foo → an adopted Deployment), run unchanged:
``kopf run`` as a subprocess with ``KUBECONFIG`` pointing at the server, or
``kopf.testing.KopfRunner`` in this process. The tests check the server's state and its request
journal (what Kopf and the official client actually sent), never the timing: every wait is a
bounded poll, and every operator is stopped when its test ends, passed or failed. (One test holds
a request on the server for two seconds, the window in which it acts; it asserts no durations.)

Kopf's requests, for the record: discovery of only the groups it needs; LIST then WATCH with
``allowWatchBookmarks`` and the list's resourceVersion; merge-patches of the object (annotations)
and of ``/status``; JSON-patches led by a ``test`` of ``/metadata/resourceVersion`` for its
finalizer; events POSTed with ``generateName``. With ``--namespace`` it lists and watches
``/api/v1/namespaces`` even for an exact name.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import kopf.testing
import kubernetes
import pytest
import yaml
from kubernetes.client import ApiException

from kopf_informers.testing import kopf_logging_undone, wait_until
from kopf_informers.testing.apiserver import EmbeddedApiServer, JournalEntry

OPERATORS = Path(__file__).parent / "operators"
FOO_OPERATOR = OPERATORS / "foo_operator.py"
FOO_CRD_FILE = Path(__file__).parents[2] / "operators" / "foo-crd.yaml"
GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
HANDLING_TIMEOUT = 20.0  # seconds: the longest wait for Kopf to notice and handle a change
PROCESS_TIMEOUT = 20.0  # seconds: the longest wait for an operator to stop
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


def foo_crd_for_plain_kopf() -> dict[str, Any]:
    """The Foo CRD of ``operators/foo.py``, with its status open to any field: a plain Kopf
    operator keeps its handlers' results there (``status.create``), under names no schema can
    know in advance, and the server would prune them."""
    crd: dict[str, Any] = yaml.safe_load(FOO_CRD_FILE.read_text())
    for version in crd["spec"]["versions"]:
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        status["x-kubernetes-preserve-unknown-fields"] = True
    return crd


FOO_CRD = foo_crd_for_plain_kopf()


# -- operators ------------------------------------------------------------------------------------


@dataclasses.dataclass
class KopfProcess:
    """``kopf run`` in a subprocess; its output goes to a file, read on demand."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM (Kopf's graceful exit), then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=PROCESS_TIMEOUT)
        return self.process.returncode


@pytest.fixture
def run_kopf(
    embedded_apiserver: EmbeddedApiServer, tmp_path: Path,
) -> Iterator[Callable[..., KopfProcess]]:
    """``run_kopf(*options)``: ``kopf run --standalone <options> foo_operator.py`` against the
    embedded server, as a subprocess that is always stopped at teardown."""
    started: list[KopfProcess] = []

    def run(*options: str) -> KopfProcess:
        env = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig)}
        env.pop("KUBERNETES_SERVICE_HOST", None)  # never mistake this for a pod in a cluster
        log_path = tmp_path / f"kopf-{len(started)}.log"
        command = [sys.executable, "-m", "kopf", "run", "--standalone", "--verbose",
                   *options, str(FOO_OPERATOR)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        started.append(KopfProcess(process, log_path))
        return started[-1]

    yield run
    for operator in started:
        operator.stop()


@pytest.fixture
def foo_crd(install_crd: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """The Foo CRD, created and established."""
    return install_crd(FOO_CRD)


# -- waiting and reading --------------------------------------------------------------------------


def eventually(check: Callable[[], Any], what: str, *, operator: KopfProcess | None = None,
               timeout: float = HANDLING_TIMEOUT) -> Any:
    """The plugin's ``wait_until``; on timeout, fail with the operator's log, which says why far
    better than the server's state does."""
    try:
        return wait_until(check, what, timeout=timeout, interval=0.05)
    except AssertionError as e:
        log = f"\n--- kopf log ---\n{operator.log()[-6000:]}" if operator else ""
        pytest.fail(f"{e}{log}")


def watching(server: EmbeddedApiServer, resource: str, namespace: str | None = None,
             ) -> Callable[[], bool]:
    """Whether some watch of ``resource`` is open (in ``namespace``, if given)."""
    def check() -> bool:
        return any(e.duration is None  # still streaming
                   for e in server.journal.filter(verb="watch", resource=resource)
                   if namespace is None or e.namespace == namespace)
    return check


def read_foo(custom_objects: kubernetes.client.CustomObjectsApi, name: str,
             namespace: str = "default") -> dict[str, Any] | None:
    try:
        foo: dict[str, Any] = custom_objects.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return foo


def read_deployment(apps_v1: kubernetes.client.AppsV1Api, name: str,
                    namespace: str = "default") -> Any:
    try:
        return apps_v1.read_namespaced_deployment(name, namespace)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def create_foo(custom_objects: kubernetes.client.CustomObjectsApi, name: str, *,
               replicas: int = 1, namespace: str = "default") -> dict[str, Any]:
    foo: dict[str, Any] = custom_objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo",
            "metadata": {"name": name, "labels": {"team": "blue"}},
            "spec": {"deploymentName": f"{name}-deploy", "replicas": replicas},
        })
    return foo


def handled(custom_objects: kubernetes.client.CustomObjectsApi, name: str,
            namespace: str = "default") -> Callable[[], dict[str, Any] | None]:
    """Whether Kopf's create handler has succeeded for this Foo (its result is in the status)."""
    def check() -> dict[str, Any] | None:
        foo = read_foo(custom_objects, name, namespace)
        return foo if foo and "create" in foo.get("status", {}) else None
    return check


def events_of(core_v1: kubernetes.client.CoreV1Api, uid: str, namespace: str = "default",
              ) -> list[str]:
    """The reasons of the events about the object with this uid."""
    events = core_v1.list_namespaced_event(namespace).items
    return [e.reason for e in events if e.involved_object.uid == uid]


def server_errors(server: EmbeddedApiServer) -> list[JournalEntry]:
    return [e for e in server.journal if e.status is not None and e.status >= 500]


# -- the lifecycle, whoever runs the operator -----------------------------------------------------


def exercise_the_lifecycle(
    server: EmbeddedApiServer, custom_objects: kubernetes.client.CustomObjectsApi,
    apps_v1: kubernetes.client.AppsV1Api, core_v1: kubernetes.client.CoreV1Api,
    operator: KopfProcess | None = None,
) -> None:
    """Create, scale and delete a Foo; check what the operator did and how it asked for it."""
    def wait(check: Callable[[], Any], what: str) -> Any:
        return eventually(check, what, operator=operator)

    uid = create_foo(custom_objects, "example")["metadata"]["uid"]
    foo = wait(handled(custom_objects, "example"), "the create handler ran")

    # Kopf's finalizer went first (a JSON-patch guarded by a `test` of the resourceVersion),
    # then the handler's Deployment, status and event.
    assert KOPF_FINALIZER in foo["metadata"]["finalizers"]
    assert foo["status"]["create"]["deployment"] == "example-deploy"
    assert foo["status"]["availableReplicas"] == 0
    deployment = read_deployment(apps_v1, "example-deploy")
    assert foo["status"]["create"]["uid"] == deployment.metadata.uid
    [owner] = deployment.metadata.owner_references
    assert (owner.api_version, owner.kind, owner.name, owner.uid) == (
        f"{GROUP}/{VERSION}", "Foo", "example", uid)
    assert owner.controller is True
    assert owner.block_owner_deletion is True
    assert deployment.metadata.labels["team"] == "blue"  # kopf.adopt copies the owner's labels
    wait(lambda: "DeploymentCreated" in events_of(core_v1, uid), "the creation event")

    # A spec change runs the update handler: a strategic-merge patch of the Deployment.
    custom_objects.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "example", {"spec": {"replicas": 3}})
    wait(lambda: read_deployment(apps_v1, "example-deploy").spec.replicas == 3,
         "the deployment is scaled")
    wait(lambda: (read_foo(custom_objects, "example") or {}).get("status", {}).get("scale"),
         "the update handler's result is in the status")
    assert read_foo(custom_objects, "example")["status"]["scale"] == {"replicas": 3}

    # Deletion: the finalizer holds the Foo for the delete handler, then Kopf releases it and
    # the garbage collector takes the Deployment through its ownerReference.
    custom_objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "example")
    wait(lambda: read_foo(custom_objects, "example") is None, "the Foo is gone")
    wait(lambda: read_deployment(apps_v1, "example-deploy") is None,
         "the Deployment is garbage-collected")
    wait(lambda: "FooDeleting" in events_of(core_v1, uid), "the delete handler's event")

    journal = server.journal
    finalizer_patches = [e for e in journal.filter(verb="patch", resource=PLURAL, name="example")
                         if e.content_type == JSON_PATCH]
    assert len(finalizer_patches) >= 2  # one adds Kopf's finalizer, one removes it
    assert {e.status for e in finalizer_patches} == {200}
    status_patches = journal.filter(verb="patch", resource=f"{PLURAL}/status", name="example")
    assert status_patches
    assert {(e.content_type, e.status) for e in status_patches} == {(MERGE_PATCH, 200)}
    # The official client POSTs without a Content-Type; the server takes it as JSON.
    [post] = journal.filter(verb="create", resource="deployments")
    assert (post.content_type, post.status) == ("", 201)
    [scale] = journal.filter(verb="patch", resource="deployments", name="example-deploy")
    assert (scale.content_type, scale.status) == (STRATEGIC_MERGE_PATCH, 200)
    posted_events = journal.filter(verb="create", resource="events")
    assert len(posted_events) >= 3
    assert {e.status for e in posted_events} == {201}
    assert server_errors(server) == []


# -- the tests ------------------------------------------------------------------------------------


def test_kopf_run_in_a_subprocess_creates_scales_and_deletes_with_its_finalizer(
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    run_kopf: Callable[..., KopfProcess], custom_objects: kubernetes.client.CustomObjectsApi,
    apps_v1: kubernetes.client.AppsV1Api, core_v1: kubernetes.client.CoreV1Api,
) -> None:
    operator = run_kopf("-A")
    eventually(watching(embedded_apiserver, PLURAL), "Kopf watches the foos", operator=operator)
    exercise_the_lifecycle(embedded_apiserver, custom_objects, apps_v1, core_v1, operator)
    assert operator.stop() == 0, operator.log()
    log = operator.log()
    assert "Handler 'delete' succeeded" in log
    assert "Traceback" not in log


def test_kopf_runner_in_process_creates_scales_and_deletes_with_its_finalizer(
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    custom_objects: kubernetes.client.CustomObjectsApi, apps_v1: kubernetes.client.AppsV1Api,
    core_v1: kubernetes.client.CoreV1Api, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    kubeconfig = str(embedded_apiserver.kubeconfig)
    # The operator's own client reads $KUBECONFIG when a handler runs.
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    # Kopf logs in with kopf.login_via_client, which calls load_kube_config() with no file: the
    # official client's default location, computed when `kubernetes` was imported, so $KUBECONFIG
    # set now is no help there. It also installs the result as the client's process-wide default
    # configuration: both are put back when the test ends.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
    # A registry of its own, or the operator file's handlers pile up in the default registry on
    # every run; a fresh registry has no fallback login handlers, so one is registered here.
    # `kopf run` makes the given registry the default one: that is undone too.
    request.addfinalizer(functools.partial(kopf.set_default_registry, kopf.get_default_registry()))
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(kopf.login_via_client)
    monkeypatch.setattr(sys, "path", [*sys.path])  # `kopf run` prepends the operator's folder

    # KopfRunner.__exit__ blocks until the operator's thread ends: fine here, since this test is
    # synchronous and the server has a thread and a loop of its own.
    args = ["run", "-A", "--standalone", "--verbose", str(FOO_OPERATOR)]
    with (kopf_logging_undone(),
          kopf.testing.KopfRunner(args, registry=registry, timeout=PROCESS_TIMEOUT) as runner):
        eventually(watching(embedded_apiserver, PLURAL), "Kopf watches the foos")
        exercise_the_lifecycle(embedded_apiserver, custom_objects, apps_v1, core_v1)

    assert runner.exception is None
    assert runner.exit_code == 0
    assert "Handler 'delete' succeeded" in runner.output


def drop_watches(server: EmbeddedApiServer) -> None:
    server.faults.drop_watches()


def drop_watches_abruptly(server: EmbeddedApiServer) -> None:
    server.faults.drop_watches(abrupt=True)  # the connections close mid-stream


def expire_history_behind_kopf(server: EmbeddedApiServer) -> None:
    """Compact the history past every resourceVersion Kopf knows, then drop the watches.

    A write first, or the compaction point could be exactly the resourceVersion of Kopf's last
    BOOKMARK, from which resuming is still allowed. All in one turn of the server's loop, so that
    no BOOKMARK tells Kopf about the new resourceVersion before its watches end.
    """
    core = server.core

    def write_compact_and_drop() -> None:
        configmaps = core.storage_info(("", "configmaps"))
        core.create(configmaps, "default", {"metadata": {"name": "unrelated-write"}})
        server.faults.expire_history()
        server.faults.drop_watches()

    server.call_soon(write_compact_and_drop)


def foo_watches_and_lists(server: EmbeddedApiServer) -> tuple[int, int]:
    return (len(server.journal.filter(verb="watch", resource=PLURAL)),
            len(server.journal.filter(verb="list", resource=PLURAL)))


@pytest.mark.parametrize(("fault", "relists"), [
    pytest.param(drop_watches, False, id="dropped-watches-resume-from-the-last-version"),
    pytest.param(drop_watches_abruptly, False, id="broken-watches-resume-from-the-last-version"),
    pytest.param(expire_history_behind_kopf, True, id="expired-history-relists-on-410"),
])
def test_kopf_handles_new_objects_after_watches_end(
    fault: Callable[[EmbeddedApiServer], None], relists: bool,
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    run_kopf: Callable[..., KopfProcess], custom_objects: kubernetes.client.CustomObjectsApi,
) -> None:
    operator = run_kopf("-A")
    eventually(watching(embedded_apiserver, PLURAL), "Kopf watches the foos", operator=operator)
    create_foo(custom_objects, "before")
    eventually(handled(custom_objects, "before"), "the first Foo is handled", operator=operator)
    watches, lists = foo_watches_and_lists(embedded_apiserver)

    fault(embedded_apiserver)
    eventually(lambda: foo_watches_and_lists(embedded_apiserver)[0] > watches,
               "Kopf watches again", operator=operator)
    create_foo(custom_objects, "after")
    eventually(handled(custom_objects, "after"), "a Foo created after the fault is handled",
               operator=operator)

    relisted = foo_watches_and_lists(embedded_apiserver)[1] > lists
    assert relisted is relists, operator.log()
    assert server_errors(embedded_apiserver) == []
    assert read_foo(custom_objects, "before")["status"]["create"]["deployment"] == "before-deploy"


def test_kopf_retries_a_failed_patch_and_succeeds(
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    run_kopf: Callable[..., KopfProcess], custom_objects: kubernetes.client.CustomObjectsApi,
) -> None:
    operator = run_kopf("-A")
    eventually(watching(embedded_apiserver, PLURAL), "Kopf watches the foos", operator=operator)
    embedded_apiserver.faults.fail("patch", PLURAL, 500, count=1)
    create_foo(custom_objects, "unlucky")
    foo = eventually(handled(custom_objects, "unlucky"), "the Foo is handled despite the 500",
                     operator=operator)

    assert KOPF_FINALIZER in foo["metadata"]["finalizers"]
    patches = embedded_apiserver.journal.filter(verb="patch", resource=PLURAL, name="unlucky")
    # The first patch (Kopf's finalizer) met the injected 500 and was retried as it was.
    assert [(e.content_type, e.status) for e in patches[:2]] == [
        (JSON_PATCH, 500), (JSON_PATCH, 200)]
    assert [e.status for e in server_errors(embedded_apiserver)] == [500]


def test_a_stale_finalizer_patch_gets_422_and_kopf_tries_again_on_the_next_event(
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    run_kopf: Callable[..., KopfProcess], custom_objects: kubernetes.client.CustomObjectsApi,
) -> None:
    operator = run_kopf("-A")
    eventually(watching(embedded_apiserver, PLURAL), "Kopf watches the foos", operator=operator)
    journal, faults = embedded_apiserver.journal, embedded_apiserver.faults

    # Hold Kopf's finalizer patch (its first write) on the server, change the Foo meanwhile,
    # and let the held patch go: its `test` of the old resourceVersion must fail with 422, as on
    # kube-apiserver (not 500, which Kopf would retry as it was, forever). The hold is the only
    # window this test needs to act in; it is long for a poll every 50 ms.
    faults.add_latency(2.0, verb="patch", resource=PLURAL)
    create_foo(custom_objects, "contested")
    eventually(lambda: any(e.status is None for e in journal.filter(
        verb="patch", resource=PLURAL, name="contested")),
        "Kopf's finalizer patch is on hold", operator=operator)
    faults.clear()  # the held patch keeps its delay; the patch below has none
    custom_objects.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "contested", {"metadata": {"labels": {"x": "y"}}})

    foo = eventually(handled(custom_objects, "contested"), "the Foo is handled",
                     operator=operator)
    assert KOPF_FINALIZER in foo["metadata"]["finalizers"]
    kopf_patches = [e for e in journal.filter(verb="patch", resource=PLURAL, name="contested")
                    if e.user_agent.startswith("kopf/")]
    assert [(e.content_type, e.status) for e in kopf_patches[:2]] == [
        (JSON_PATCH, 422), (JSON_PATCH, 200)], operator.log()
    assert server_errors(embedded_apiserver) == []


def test_a_crd_created_after_the_operator_started_gets_served(
    embedded_apiserver: EmbeddedApiServer, run_kopf: Callable[..., KopfProcess],
    install_crd: Callable[[dict[str, Any]], dict[str, Any]],
    custom_objects: kubernetes.client.CustomObjectsApi,
) -> None:
    operator = run_kopf("-A")
    eventually(watching(embedded_apiserver, "customresourcedefinitions"),
               "Kopf watches the CRDs", operator=operator)
    assert not embedded_apiserver.journal.filter(resource=PLURAL)

    # Kopf re-scans the group's discovery on every CRD event, and starts watching the foos.
    install_crd(FOO_CRD)
    eventually(watching(embedded_apiserver, PLURAL), "Kopf watches the foos", operator=operator)
    create_foo(custom_objects, "late")
    eventually(handled(custom_objects, "late"), "the Foo is handled", operator=operator)
    assert server_errors(embedded_apiserver) == []


def test_kopf_restricted_to_a_namespace_lists_and_watches_only_there(
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    run_kopf: Callable[..., KopfProcess], custom_objects: kubernetes.client.CustomObjectsApi,
) -> None:
    operator = run_kopf("--namespace", "default")
    eventually(watching(embedded_apiserver, PLURAL, "default"), "Kopf watches the foos",
               operator=operator)
    create_foo(custom_objects, "local")
    eventually(handled(custom_objects, "local"), "the Foo is handled", operator=operator)

    foo_requests = embedded_apiserver.journal.filter(resource=PLURAL)
    assert {(e.verb, e.namespace) for e in foo_requests if e.verb in ("list", "watch")} == {
        ("list", "default"), ("watch", "default")}
    assert server_errors(embedded_apiserver) == []


def test_kopf_with_a_namespace_glob_follows_namespaces_as_they_come(
    foo_crd: dict[str, Any], embedded_apiserver: EmbeddedApiServer,
    run_kopf: Callable[..., KopfProcess], custom_objects: kubernetes.client.CustomObjectsApi,
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    operator = run_kopf("--namespace", "dev-*")
    # The namespace observer lists and watches /api/v1/namespaces to match the glob.
    eventually(watching(embedded_apiserver, "namespaces"), "Kopf watches the namespaces",
               operator=operator)
    assert embedded_apiserver.journal.filter(verb="list", resource="namespaces")

    core_v1.create_namespace({"metadata": {"name": "dev-one"}})
    eventually(watching(embedded_apiserver, PLURAL, "dev-one"),
               "Kopf watches the foos in the new namespace", operator=operator)
    create_foo(custom_objects, "glob", namespace="dev-one")
    eventually(handled(custom_objects, "glob", "dev-one"), "the Foo is handled", operator=operator)
    assert {e.namespace for e in embedded_apiserver.journal.filter(resource=PLURAL)} == {"dev-one"}
    assert server_errors(embedded_apiserver) == []
