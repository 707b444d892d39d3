"""The test harness users install with the package: clusters, manifests, waits, the plugin.

The plugin's own behaviour (options, skips, an operator's log with a failed test) is checked in
a pytest run inside this one (``pytester``), on the embedded server.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from _helpers.e2e import OPERATORS

from kopf_informers.errors import NotFoundError
from kopf_informers.testing import Cluster, load_manifests, wait_for

pytest_plugins = ["pytester"]

MANIFEST = (OPERATORS / "foo-crd.yaml").read_text() + textwrap.dedent("""
    ---
    apiVersion: samplecontroller.k8s.io/v1alpha1
    kind: Foo
    metadata: {name: applied}
    spec: {deploymentName: applied-web, replicas: 1}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {color: blue}
""")


def test_manifests_are_read_from_files_text_objects_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(MANIFEST)
    assert [o["kind"] for o in load_manifests(path)] == [
        "CustomResourceDefinition", "Foo", "ConfigMap"]
    assert [o["kind"] for o in load_manifests(str(path))] == [
        "CustomResourceDefinition", "Foo", "ConfigMap"]
    assert len(load_manifests(MANIFEST)) == 3
    listed = {"apiVersion": "v1", "kind": "List", "items": [{"kind": "ConfigMap"}] * 2}
    assert len(load_manifests(listed)) == 2
    with pytest.raises(ValueError, match="no kind"):
        load_manifests("just: text\n")


def test_wait_for_takes_not_found_for_not_yet_and_says_what_it_saw_last() -> None:
    steps: list[Any] = [NotFoundError("gone", status=404), {"replicas": 1}, {"replicas": 3}]

    def get() -> Any:
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        if isinstance(step, Exception):
            raise step
        return step

    assert wait_for(get, lambda d: d["replicas"] == 3, timeout=5, interval=0) == {"replicas": 3}
    with pytest.raises(AssertionError, match=r"^not within 0 s: scaled; last seen: \{'r"):
        wait_for(lambda: {"replicas": 1}, lambda d: d["replicas"] == 3, "scaled", timeout=0)
    steps[:] = [NotFoundError("gone", status=404)]
    with pytest.raises(AssertionError, match=r"last seen: not found \(NotFoundError: .*gone"):
        wait_for(get, None, "it", timeout=0)
    with pytest.raises(ZeroDivisionError):
        wait_for(lambda: 1 / 0, timeout=5)


def test_a_cluster_applies_and_deletes_a_multi_document_manifest(
        cluster: Cluster, namespace: str) -> None:
    applied = cluster.apply(MANIFEST, namespace=namespace)  # the CRD, then one of its objects
    assert [o["metadata"].get("namespace") for o in applied] == [None, namespace, namespace]
    cluster.apply(MANIFEST.replace("color: blue", "color: red"), namespace=namespace)
    settings = cluster.get("v1", "ConfigMap", "settings", namespace)
    assert settings is not None
    assert settings["data"] == {"color": "red"}
    cluster.delete(load_manifests(MANIFEST)[1:], namespace=namespace)
    assert cluster.get("v1", "ConfigMap", "settings", namespace) is None


def test_the_cluster_is_exported_to_the_code_under_test(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from kubernetes.config import kube_config

    assert os.environ["KUBECONFIG"] == str(cluster.kubeconfig)
    assert str(cluster.kubeconfig) == kube_config.KUBE_CONFIG_DEFAULT_LOCATION


async def test_an_async_test_uses_the_same_cluster(cluster: Cluster, namespace: str) -> None:
    await cluster.apply_async({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "async"}}, namespace=namespace)
    async with cluster.api() as api:
        found = await api.get("v1/configmaps", "async", namespace=namespace)
    assert found["metadata"]["name"] == "async"


def test_the_operator_log_comes_with_a_failure_and_backends_say_why_they_skip(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=f"""
        def test_fails(cluster, namespace, operator):
            cluster.apply({str(OPERATORS / "foo-crd.yaml")!r})
            operator({str(OPERATORS / "foo.py")!r}, namespaces=[namespace])
            assert False, "on purpose"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*operator log: foo (subprocess)*",
                                 "*Activity 'kopf_informers/startup' succeeded*"])

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "--cluster=kind",
                                           "-k", "fails")
    if result.ret == 0 or "SKIPPED" in result.stdout.str():  # no kind here: a clear reason
        result.stdout.fnmatch_lines(["*SKIPPED*kind*"])

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cluster=kubeconfig",
                                           "--kubeconfig", str(pytester.path / "missing"))
    result.stdout.fnmatch_lines(["*--cluster=kubeconfig needs a kubeconfig*"])


def test_an_unknown_backend_in_the_environment_is_a_usage_error(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOPF_INFORMERS_TEST_CLUSTER", "minikube")
    pytester.makepyfile(test_inner="def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*KOPF_INFORMERS_TEST_CLUSTER='minikube'*"])


def test_an_operator_runs_in_process_with_kopf_logged_in(
        cluster: Cluster, namespace: str, operator: object) -> None:
    """KopfRunner in this process (the LoginError a user met): a fresh registry logs in with
    ``kopf.login_via_client`` at the test's cluster."""
    cluster.apply(OPERATORS / "foo-crd.yaml")
    running = operator(OPERATORS / "foo.py", namespaces=[namespace], mode="in_process")  # type: ignore[operator]
    assert running.probe()["kopf_informers"]["synced"] is True
    running.stop()
    assert running.exit_code == 0
    assert "Activity 'kopf_informers/startup' succeeded" in running.log()
