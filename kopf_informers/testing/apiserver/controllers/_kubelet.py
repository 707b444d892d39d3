"""A simulated node and its kubelet, as kwok fakes them: Pods that look run, with nothing run.

Only with pod simulation (``EmbeddedApiServer(simulate_pods=True)``). The server then has one
Node, ``embedded-control-plane`` (named as kind names its own), Ready, with a pod CIDR. Every
Pod without a node is bound to it and, after the simulation delay, reported ``Running`` and
``Ready``: conditions, ``podIP`` from the node's CIDR, ``hostIP``, ``startTime`` and a
``containerStatuses`` entry per container, ready and running. A Pod that does not restart
(``restartPolicy`` ``Never`` or ``OnFailure``, as a Job's) ``Succeeded`` after its run time:
the server's ``pod_run_time``, or the seconds in its ``kopf-informers.dev/simulated-run-seconds``
annotation. A Pod bound to another node stays ``Pending``: no kubelet runs there.

No container runs: the ``exec``, ``attach``, ``portforward`` and ``log`` subresources answer
400 at once (see ``_builtins``), instead of leaving clients waiting for a stream.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable

from ..registry._core import ApiCore, now_rfc3339
from ..storage._store import Obj
from ._objects import NODES, PODS, create, live

NODE_NAME = "embedded-control-plane"
NODE_IP = "172.18.0.2"
POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
RUN_SECONDS_ANNOTATION = "kopf-informers.dev/simulated-run-seconds"

Schedule = Callable[[float, str, str], None]  # (delay, namespace, name): sync that pod then


class Kubelet:
    """Binds Pods to the one simulated node and moves them through their phases."""

    def __init__(self, core: ApiCore, *, run_time: float, schedule: Schedule) -> None:
        self.core = core
        self.run_time = run_time
        self.schedule = schedule
        self._started: dict[str, float] = {}  # pod uid -> monotonic start, while it runs
        self._ips: set[str] = set()
        self._next_ip = 2  # .0 is the network, .1 the node's bridge, as kind hands them out

    def ensure_node(self) -> None:
        """Create the node, Ready, unless it exists."""
        if self.core.store.resource(NODES).get("", NODE_NAME) is not None:
            return
        labels = {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": NODE_NAME,
            "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": "",
        }
        node = create(self.core, NODES, "", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": labels},
            "spec": {"podCIDR": str(POD_CIDR), "podCIDRs": [str(POD_CIDR)]},
        })
        if node is not None:
            self.core.internal_update(NODES, node, _node_status, subresource="status")

    def forget(self, pod: Obj) -> None:
        """A Pod is gone: its address and its clock are free."""
        self._started.pop(pod["metadata"].get("uid", ""), None)
        self._ips.discard((pod.get("status") or {}).get("podIP", ""))

    def sync(self, namespace: str, name: str) -> None:
        pod = live(self.core, PODS, namespace, name)
        if pod is None:
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            pod = self.core.internal_update(PODS, pod, _bind)
            if pod is None:
                return
        elif node != NODE_NAME:
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in (None, "Pending"):
            pod = self._run(pod)
            if pod is None:
                return
            phase = "Running"
        if phase == "Running" and (pod.get("spec") or {}).get("restartPolicy") != "Always":
            self._maybe_finish(pod)

    def _run(self, pod: Obj) -> Obj | None:
        ip = self._allocate_ip()
        self._started[pod["metadata"]["uid"]] = time.monotonic()
        now = now_rfc3339()
        spec = pod.get("spec") or {}

        def mutate(new: Obj) -> None:
            status = new.setdefault("status", {})
            status.update({
                "phase": "Running",
                "conditions": [_condition(t, "True", now) for t in (
                    "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                    "PodScheduled")],
                "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}],
                "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
                "containerStatuses": [_container(c, now) for c in spec.get("containers") or ()],
            })
            if spec.get("initContainers"):
                status["initContainerStatuses"] = [
                    _container(c, now, finished=now) for c in spec["initContainers"]]

        return self.core.internal_update(PODS, pod, mutate, subresource="status")

    def _maybe_finish(self, pod: Obj) -> None:
        meta = pod["metadata"]
        seconds = self.run_time
        raw = (meta.get("annotations") or {}).get(RUN_SECONDS_ANNOTATION)
        with contextlib.suppress(ValueError):
            seconds = float(raw) if raw is not None else seconds
        started = self._started.setdefault(meta["uid"], time.monotonic())
        remaining = started + seconds - time.monotonic()
        if remaining > 0:
            self.schedule(remaining, meta["namespace"], meta["name"])
            return
        now = now_rfc3339()

        def mutate(new: Obj) -> None:
            status = new.setdefault("status", {})
            status["phase"] = "Succeeded"
            status["conditions"] = [
                _condition(c.get("type", ""), "False", now, "PodCompleted")
                if c.get("type") in ("Ready", "ContainersReady") else c
                for c in status.get("conditions") or ()
            ]
            status["containerStatuses"] = [
                _container(c, c.get("state", {}).get("running", {}).get("startedAt", now),
                           finished=now)
                for c in status.get("containerStatuses") or ()
            ]

        self._started.pop(meta["uid"], None)
        self.core.internal_update(PODS, pod, mutate, subresource="status")

    def _allocate_ip(self) -> str:
        size = POD_CIDR.num_addresses - 2
        for _ in range(size):
            ip = str(POD_CIDR.network_address + self._next_ip)
            self._next_ip = self._next_ip % size + 1
            if ip not in self._ips:
                self._ips.add(ip)
                return ip
        return str(POD_CIDR.network_address + 1)  # every address taken: share the last one


def _bind(pod: Obj) -> None:
    pod.setdefault("spec", {})["nodeName"] = NODE_NAME


def _condition(type_: str, status: str, now: str, reason: str | None = None) -> Obj:
    cond: Obj = {"type": type_, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    return cond


def _container(container: Obj, started: str, *, finished: str | None = None) -> Obj:
    """A container's status: running since ``started``, or done at ``finished``."""
    name, image = container.get("name", ""), container.get("image", "")
    if finished is None:
        state: Obj = {"running": {"startedAt": started}}
    else:
        state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                "finishedAt": finished}}
    return {"name": name, "image": image, "imageID": "",
            "containerID": f"simulated://{name}", "ready": finished is None,
            "started": finished is None, "restartCount": 0, "state": state}


def _node_status(node: Obj) -> None:
    now = now_rfc3339()
    resources = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    pressures = (("MemoryPressure", "KubeletHasSufficientMemory",
                  "kubelet has sufficient memory available"),
                 ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                 ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
    conditions = [{"type": t, "status": "False", "reason": r, "message": m,
                   "lastHeartbeatTime": now, "lastTransitionTime": now} for t, r, m in pressures]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status (simulated: no containers "
                                  "run)",
                       "lastHeartbeatTime": now, "lastTransitionTime": now})
    node["status"] = {
        "addresses": [{"type": "InternalIP", "address": NODE_IP},
                      {"type": "Hostname", "address": NODE_NAME}],
        "capacity": resources, "allocatable": resources, "conditions": conditions,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64", "operatingSystem": "linux",
            "osImage": "kopf-informers embedded API server (simulated node)",
            "kernelVersion": "", "kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
            "containerRuntimeVersion": "simulated://0", "machineID": "", "systemUUID": "",
            "bootID": "",
        },
    }
