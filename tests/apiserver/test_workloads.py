"""Workloads that behave like workloads: the embedded server's workload controllers.

Deployments own ReplicaSets per template with revisions (``kubectl rollout status``, ``history``
and ``undo`` work), StatefulSets own ControllerRevisions and claims, Services get addresses from
the real ranges, and with ``simulate_pods`` ReplicaSets, StatefulSets and Jobs get Pods that a
simulated node reports running; container subresources answer at once that none runs.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client import ApiException, AppsV1Api, BatchV1Api, CoreV1Api

from kopf_informers.errors import InvalidArgumentError
from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.pytest_plugin import Kubectl

PODS = pytest.mark.embedded_apiserver(simulate_pods=True, pod_run_time=0.2)
REVISION = "deployment.kubernetes.io/revision"


def deployment(name: str, *, image: str = "nginx:1.25", replicas: int = 2,
               **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, **spec,
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }


def statefulset(name: str, *, replicas: int = 2, image: str = "redis:7",
                **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "db", "image": image}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}}],
            **spec,
        },
    }


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def replicasets_of(apps_v1: AppsV1Api, name: str) -> list[Any]:
    items = apps_v1.list_namespaced_replica_set("default", label_selector=f"app={name}").items
    return sorted(items, key=lambda rs: int(rs.metadata.annotations[REVISION]))


def rolled_out(apps_v1: AppsV1Api, name: str, revision: int) -> Callable[[], Any]:
    def check() -> Any:
        found = apps_v1.read_namespaced_deployment(name, "default")
        status, annotations = found.status, found.metadata.annotations or {}
        if status is None or status.observed_generation != found.metadata.generation:
            return None
        if annotations.get(REVISION) != str(revision):
            return None
        done = (status.updated_replicas or 0) == (status.available_replicas or 0) == \
            found.spec.replicas == (status.replicas or 0)
        return found if done else None
    return check


def error_of(e: pytest.ExceptionInfo[ApiException]) -> tuple[int, str]:
    return e.value.status, json.loads(e.value.body)["message"]


# -- Deployments and their ReplicaSets -----------------------------------------------------------


def test_a_deployment_owns_a_replicaset_named_by_its_template_hash(
    apps_v1: AppsV1Api, wait_until: Callable[..., Any],
) -> None:
    created = apps_v1.create_namespaced_deployment("default", deployment("web", replicas=4))
    deploy = wait_until(rolled_out(apps_v1, "web", 1))
    [rs] = replicasets_of(apps_v1, "web")
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.spec.template.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}
    [owner] = rs.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller, owner.block_owner_deletion) == (
        "Deployment", "web", created.metadata.uid, True, True)
    assert rs.metadata.annotations == {
        REVISION: "1", "deployment.kubernetes.io/desired-replicas": "4",
        "deployment.kubernetes.io/max-replicas": "5",  # 4 + maxSurge 25%, rounded up
    }
    assert (rs.spec.replicas, rs.status.replicas, rs.status.ready_replicas) == (4, 4, 4)
    status = deploy.status
    assert (status.replicas, status.updated_replicas, status.ready_replicas,
            status.available_replicas) == (4, 4, 4, 4)
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions == {"Available": ("True", "MinimumReplicasAvailable"),
                          "Progressing": ("True", "NewReplicaSetAvailable")}
    assert [c.type for c in status.conditions] == ["Available", "Progressing"]
    assert f'ReplicaSet "{rs.metadata.name}"' in status.conditions[1].message


def test_a_new_template_is_a_new_revision_and_the_old_replicaset_is_scaled_to_zero(
    apps_v1: AppsV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("web"))
    wait_until(rolled_out(apps_v1, "web", 1))
    apps_v1.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "nginx:1.26"}]}}}})
    deploy = wait_until(rolled_out(apps_v1, "web", 2))
    old, new = replicasets_of(apps_v1, "web")
    assert (old.spec.replicas, old.status.replicas) == (0, 0)
    assert new.spec.replicas == 2
    assert new.spec.template.spec.containers[0].image == "nginx:1.26"
    assert new.metadata.labels["pod-template-hash"] != old.metadata.labels["pod-template-hash"]
    assert (deploy.status.updated_replicas, deploy.status.replicas) == (2, 2)


def test_old_replicasets_are_kept_up_to_the_revision_history_limit(
    apps_v1: AppsV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment(
        "default", deployment("web", image="nginx:1", revisionHistoryLimit=2))
    wait_until(rolled_out(apps_v1, "web", 1))
    for revision in range(2, 6):
        apps_v1.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": f"nginx:{revision}"}]}}}})
        wait_until(rolled_out(apps_v1, "web", revision))
    wait_until(lambda: len(replicasets_of(apps_v1, "web")) == 3)
    revisions = [rs.metadata.annotations[REVISION] for rs in replicasets_of(apps_v1, "web")]
    assert revisions == ["3", "4", "5"]


def test_deleting_a_deployment_collects_its_replicasets(
    apps_v1: AppsV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("web"))
    wait_until(lambda: replicasets_of(apps_v1, "web"))
    apps_v1.delete_namespaced_deployment("web", "default")
    wait_until(lambda: not replicasets_of(apps_v1, "web"))


@pytest.mark.kubectl
def test_kubectl_rollout_status_history_and_undo_work(
    kubectl: Kubectl, apps_v1: AppsV1Api,
) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(deployment("web")))
    assert 'deployment "web" successfully rolled out' in kubectl(
        "rollout", "status", "deploy/web", "--timeout=10s", timeout=20).stdout
    kubectl("set", "image", "deploy/web", "app=nginx:1.26")
    kubectl("annotate", "deploy/web", "kubernetes.io/change-cause=to 1.26")
    kubectl("rollout", "status", "deploy/web", "--timeout=10s", timeout=20)
    history = kubectl("rollout", "history", "deploy/web").stdout.split("\n")
    assert [line.split() for line in history[2:4]] == [["1", "<none>"], ["2", "to", "1.26"]]
    assert "nginx:1.25" in kubectl("rollout", "history", "deploy/web", "--revision=1").stdout

    assert "rolled back" in kubectl("rollout", "undo", "deploy/web").stdout
    kubectl("rollout", "status", "deploy/web", "--timeout=10s", timeout=20)
    deploy = apps_v1.read_namespaced_deployment("web", "default")
    assert deploy.spec.template.spec.containers[0].image == "nginx:1.25"
    assert deploy.metadata.annotations[REVISION] == "3"
    # The undo brought revision 1's ReplicaSet back as revision 3: no third ReplicaSet.
    old, new = replicasets_of(apps_v1, "web")
    assert new.spec.template.spec.containers[0].image == "nginx:1.25"
    assert new.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert (old.spec.replicas, new.spec.replicas) == (0, 2)
    history = kubectl("rollout", "history", "deploy/web").stdout.split("\n")
    assert [line.split()[0] for line in history[2:4]] == ["2", "3"]


# -- StatefulSets ---------------------------------------------------------------------------------


def test_a_statefulset_has_controller_revisions_and_claims_kept_on_scale_down(
    apps_v1: AppsV1Api, core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    created = apps_v1.create_namespaced_stateful_set("default", statefulset("db", replicas=3))

    def settled(generation: int) -> Any:
        found = apps_v1.read_namespaced_stateful_set("db", "default")
        status = found.status
        return found if status and status.observed_generation == generation else None

    status = wait_until(lambda: settled(1)).status
    assert status.current_revision == status.update_revision
    assert status.update_revision.startswith("db-")
    assert (status.replicas, status.ready_replicas, status.current_replicas,
            status.updated_replicas, status.available_replicas) == (3, 3, 3, 3, 3)
    [revision] = apps_v1.list_namespaced_controller_revision("default").items
    assert revision.metadata.name == status.update_revision
    assert revision.revision == 1
    assert revision.metadata.owner_references[0].uid == created.metadata.uid
    assert revision.metadata.labels["app"] == "db"
    claims = sorted(c.metadata.name for c in
                    core_v1.list_namespaced_persistent_volume_claim("default").items)
    assert claims == ["data-db-0", "data-db-1", "data-db-2"]

    apps_v1.patch_namespaced_stateful_set("db", "default", {"spec": {"replicas": 1, "template": {
        "spec": {"containers": [{"name": "db", "image": "redis:8"}]}}}})
    status = wait_until(lambda: settled(2)).status
    assert status.update_revision != revision.metadata.name
    assert status.current_revision == status.update_revision
    revisions = apps_v1.list_namespaced_controller_revision("default").items
    assert sorted(r.revision for r in revisions) == [1, 2]
    # Claims outlive a scale-down by default (whenScaled: Retain), as with the real controller.
    assert len(core_v1.list_namespaced_persistent_volume_claim("default").items) == 3


# -- Services -------------------------------------------------------------------------------------


def test_services_get_unique_cluster_ips_from_the_service_cidr(core_v1: CoreV1Api) -> None:
    ips = set()
    for n in range(20):
        svc = core_v1.create_namespaced_service("default", service(f"s{n}"))
        assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/12")
        assert svc.spec.cluster_ips == [svc.spec.cluster_ip]
        assert (svc.spec.ip_families, svc.spec.ip_family_policy) == (["IPv4"], "SingleStack")
        assert svc.spec.internal_traffic_policy == "Cluster"
        ips.add(svc.spec.cluster_ip)
    assert len(ips) == 20
    headless = core_v1.create_namespaced_service("default", service("h", clusterIP="None"))
    assert (headless.spec.cluster_ip, headless.spec.cluster_ips) == ("None", ["None"])
    external = core_v1.create_namespaced_service("default", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}})
    assert (external.spec.cluster_ip, external.spec.ip_families) == (None, None)


def test_a_requested_cluster_ip_is_honoured_once_and_kept_by_updates(
    core_v1: CoreV1Api,
) -> None:
    svc = core_v1.create_namespaced_service("default", service("a", clusterIP="10.96.100.100"))
    assert svc.spec.cluster_ip == "10.96.100.100"
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_service("default", service("b", clusterIP="10.96.100.100"))
    assert error_of(e) == (422, (
        'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.100.100"}: '
        "failed to allocate IP 10.96.100.100: provided IP is already allocated"))
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_service("default", service("c", clusterIP="192.168.0.1"))
    assert error_of(e)[0] == 422
    assert "The range of valid IPs is 10.96.0.0/12" in error_of(e)[1]
    body = service("a")  # a PUT that leaves the address out keeps it
    body["metadata"]["resourceVersion"] = svc.metadata.resource_version
    assert core_v1.replace_namespaced_service("a", "default", body).spec.cluster_ip == \
        "10.96.100.100"
    core_v1.delete_namespaced_service("a", "default", _preload_content=False)
    again = core_v1.create_namespaced_service("default", service("b", clusterIP="10.96.100.100"))
    assert again.spec.cluster_ip == "10.96.100.100"  # freed by the deletion


def test_node_ports_are_allocated_unique_in_range_and_conflicts_are_422(
    core_v1: CoreV1Api,
) -> None:
    svc = core_v1.create_namespaced_service("default", service(
        "np", type="NodePort", ports=[{"port": 80}, {"port": 443, "nodePort": 30443}]))
    auto, fixed = (p.node_port for p in svc.spec.ports)
    assert 30000 <= auto <= 32767
    assert fixed == 30443
    assert svc.spec.external_traffic_policy == "Cluster"
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_service("default", service(
            "np2", type="NodePort", ports=[{"port": 80, "nodePort": 30443}]))
    assert error_of(e) == (422, 'Service "np2" is invalid: spec.ports[0].nodePort: Invalid '
                                "value: 30443: provided port is already allocated")
    with pytest.raises(ApiException) as e:
        core_v1.create_namespaced_service("default", service(
            "np3", type="NodePort", ports=[{"port": 80, "nodePort": 80}]))
    assert error_of(e) == (422, 'Service "np3" is invalid: spec.ports[0].nodePort: Invalid '
                                "value: 80: provided port is not in the valid range. The range "
                                "of valid ports is 30000-32767")
    lb = core_v1.create_namespaced_service("default", service("lb", type="LoadBalancer"))
    assert 30000 <= lb.spec.ports[0].node_port <= 32767
    assert lb.spec.ports[0].node_port not in (auto, fixed)
    assert lb.spec.allocate_load_balancer_node_ports is True
    patched = core_v1.patch_namespaced_service("np", "default", {"metadata": {"labels": {
        "x": "y"}}})
    assert [p.node_port for p in patched.spec.ports] == [auto, fixed]


# -- pod simulation -------------------------------------------------------------------------------


def test_pods_are_not_simulated_unless_asked(
    apps_v1: AppsV1Api, core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("web"))
    wait_until(rolled_out(apps_v1, "web", 1))
    assert core_v1.list_namespaced_pod("default").items == []
    assert core_v1.list_node().items == []


def test_pod_simulation_needs_the_workload_controllers() -> None:
    with pytest.raises(InvalidArgumentError, match="simulate_pods needs simulate_workloads"):
        EmbeddedApiServer(simulate_pods=True, simulate_workloads=False)


@PODS
def test_replicaset_pods_run_on_the_simulated_node_are_replaced_and_scaled_down(
    apps_v1: AppsV1Api, core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_deployment("default", deployment("web", replicas=3))
    wait_until(rolled_out(apps_v1, "web", 1))
    [rs] = replicasets_of(apps_v1, "web")
    pods = core_v1.list_namespaced_pod("default").items
    assert len(pods) == 3
    [node] = core_v1.list_node().items
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    assert (node.metadata.name, ready) == ("embedded-control-plane", "True")
    for pod in pods:
        assert pod.metadata.name.startswith(f"{rs.metadata.name}-")
        assert len(pod.metadata.name) == len(rs.metadata.name) + 6
        assert pod.metadata.owner_references[0].uid == rs.metadata.uid
        assert pod.metadata.labels["pod-template-hash"] == rs.metadata.labels["pod-template-hash"]
        assert pod.spec.node_name == "embedded-control-plane"
        assert pod.status.phase == "Running"
        assert pod.status.host_ip == "172.18.0.2"
        assert pod.status.start_time is not None
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        assert [(c.name, c.ready) for c in pod.status.container_statuses] == [("app", True)]
    assert len({p.status.pod_ip for p in pods}) == 3

    victim = pods[0].metadata.name
    core_v1.delete_namespaced_pod(victim, "default")

    def replaced() -> bool:
        names = [p.metadata.name for p in core_v1.list_namespaced_pod("default").items
                 if p.status.phase == "Running"]
        return len(names) == 3 and victim not in names

    wait_until(replaced)
    apps_v1.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
    wait_until(lambda: len(core_v1.list_namespaced_pod("default").items) == 1)
    deploy = wait_until(rolled_out(apps_v1, "web", 1))
    assert (deploy.status.replicas, deploy.status.ready_replicas) == (1, 1)


@PODS
def test_statefulset_pods_are_named_by_ordinal_and_mount_their_claims(
    apps_v1: AppsV1Api, core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    apps_v1.create_namespaced_stateful_set("default", statefulset("db", replicas=3))

    def ready() -> Any:
        found = apps_v1.read_namespaced_stateful_set("db", "default")
        return found if found.status and found.status.ready_replicas == 3 else None

    status = wait_until(ready).status
    pods = sorted(core_v1.list_namespaced_pod("default").items, key=lambda p: p.metadata.name)
    assert [p.metadata.name for p in pods] == ["db-0", "db-1", "db-2"]
    for ordinal, pod in enumerate(pods):
        labels = pod.metadata.labels
        assert labels["controller-revision-hash"] == status.update_revision
        assert labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert (pod.spec.hostname, pod.spec.subdomain) == (f"db-{ordinal}", "db")
        [volume] = pod.spec.volumes
        assert volume.persistent_volume_claim.claim_name == f"data-db-{ordinal}"
    apps_v1.patch_namespaced_stateful_set("db", "default", {"spec": {"replicas": 1}})
    wait_until(lambda: [p.metadata.name for p in core_v1.list_namespaced_pod("default").items]
               == ["db-0"])


@PODS
def test_a_job_runs_its_pods_to_completion(
    batch_v1: BatchV1Api, core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    batch_v1.create_namespaced_job("default", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]}}},
    })

    def complete() -> Any:
        found = batch_v1.read_namespaced_job("once", "default")
        conditions = {c.type: c.status for c in ((found.status and found.status.conditions) or ())}
        return found if conditions.get("Complete") == "True" else None

    job = wait_until(complete)
    assert job.status.succeeded == 3
    assert job.status.active is None
    assert job.status.completion_time is not None
    assert [c.type for c in job.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    pods = core_v1.list_namespaced_pod("default").items
    assert len(pods) == 3
    assert {p.status.phase for p in pods} == {"Succeeded"}
    assert all(p.metadata.labels["job-name"] == "once" for p in pods)
    assert all(p.metadata.name.startswith("once-") for p in pods)


@PODS
def test_a_bare_pod_runs_and_one_that_does_not_restart_succeeds_after_its_run_time(
    core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    def pod(name: str, restart: str, **annotations: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {"restartPolicy": restart,
                         "containers": [{"name": "c", "image": "busybox"}]}}

    core_v1.create_namespaced_pod("default", pod("server", "Always"))
    core_v1.create_namespaced_pod("default", pod(
        "task", "Never", **{"kopf-informers.dev/simulated-run-seconds": "0.5"}))
    started = time.monotonic()

    def phase(name: str) -> str:
        return str(core_v1.read_namespaced_pod(name, "default").status.phase)

    wait_until(lambda: phase("task") == "Succeeded")
    assert time.monotonic() - started >= 0.5
    assert phase("server") == "Running"
    task = core_v1.read_namespaced_pod("task", "default")
    [container] = task.status.container_statuses
    assert (container.ready, container.state.terminated.reason) == (False, "Completed")


@PODS
@pytest.mark.kubectl
def test_kubectl_exec_and_logs_answer_at_once_that_no_container_runs(
    kubectl: Kubectl, core_v1: CoreV1Api, wait_until: Callable[..., Any],
) -> None:
    core_v1.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    wait_until(lambda: core_v1.read_namespaced_pod("p", "default").status.phase == "Running")
    for args, what in [(("exec", "p", "--", "ls"), "exec"), (("logs", "p"), "log"),
                       (("attach", "p"), "attach")]:
        started = time.monotonic()
        result = kubectl(*args, check=False, timeout=10)
        assert time.monotonic() - started < 5
        assert result.returncode != 0
        assert f"the embedded API server runs no containers: {what} is not available" in \
            result.stderr, result.stderr
