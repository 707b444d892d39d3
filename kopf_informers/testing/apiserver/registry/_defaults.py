"""Defaults the real API server fills into built-in objects, the few that clients rely on.

Only what operators and clients commonly read back: a Namespace's phase, finalizer and
``kubernetes.io/metadata.name`` label, a Pod's phase, a Deployment's replicas and strategy, a
Job's selector, a Service's type and traffic policies (its addresses are ``_services``'). Each
``default_<kind>`` here is named as its kind's defaulter by that kind's entry in ``_builtins``.
Custom resources are defaulted from their CRD's schema instead (``_validation.apply_defaults``).
"""

from __future__ import annotations

import base64
from typing import Any

Obj = dict[str, Any]
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


def default_namespace(obj: Obj, creating: bool) -> None:
    if creating:
        _spec(obj).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    # Forced on every write, as the real namespace strategy does, so namespaceSelectors can match
    # namespaces by name.
    meta = obj["metadata"]
    if not isinstance(meta.get("labels"), dict):
        meta["labels"] = {}
    meta["labels"][NAMESPACE_NAME_LABEL] = meta.get("name", "")


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in spec.get("containers") or ():
        if isinstance(container, dict):
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            tag = str(container.get("image", "")).rpartition(":")[2]
            policy = "Always" if tag in ("", "latest") else "IfNotPresent"
            container.setdefault("imagePullPolicy", policy)
            for port in container.get("ports") or ():
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def default_pod(obj: Obj, creating: bool) -> None:
    _pod_spec(_spec(obj))
    if creating:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _template_spec(obj: Obj) -> None:
    template = _spec(obj).get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _pod_spec(template["spec"])


def default_deployment(obj: Obj, creating: bool) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if isinstance(strategy, dict) and strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    _template_spec(obj)


def default_replicaset(obj: Obj, creating: bool) -> None:
    _spec(obj).setdefault("replicas", 1)
    _template_spec(obj)


def default_replicationcontroller(obj: Obj, creating: bool) -> None:
    """A ReplicationController's selector, and its own labels, default to its template's."""
    spec = _spec(obj)
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        if not obj["metadata"].get("labels"):
            obj["metadata"]["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    _template_spec(obj)


def default_daemonset(obj: Obj, creating: bool) -> None:
    _template_spec(obj)


def default_statefulset(obj: Obj, creating: bool) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    _template_spec(obj)


def default_job(obj: Obj, creating: bool) -> None:
    spec = _spec(obj)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    if creating and not spec.get("manualSelector"):
        # As the Job strategy's PrepareForCreate: the Job's uid selects its Pods.
        meta = obj["metadata"]
        uid, name = meta.get("uid", ""), meta.get("name", "")
        labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                  "controller-uid": uid, "job-name": name}
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template = spec.get("template")
        if isinstance(template, dict):
            tmeta = template.get("metadata")
            if not isinstance(tmeta, dict):
                tmeta = template["metadata"] = {}
            tmeta["labels"] = {**(tmeta.get("labels") or {}), **labels}
    _template_spec(obj)


def default_service(obj: Obj, creating: bool) -> None:
    spec = _spec(obj)
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    # The addresses (clusterIP, clusterIPs, ipFamilies, nodePorts) are the allocator's
    # (``_services``), which knows which are taken.
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if creating:
        obj["status"] = {"loadBalancer": {}}


def default_secret(obj: Obj, creating: bool) -> None:
    obj.setdefault("type", "Opaque")
    # stringData is write-only: the real server merges it into data (base64) and drops it.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def default_crd(obj: Obj, creating: bool) -> None:
    _spec(obj).setdefault("conversion", {"strategy": "None"})
    if creating:  # the real server's CRD finalizer controller adds it right after creation
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if CRD_FINALIZER not in finalizers:
            finalizers.append(CRD_FINALIZER)


def _default_webhooks(obj: Obj, *, mutating: bool) -> None:
    """admissionregistration/v1's defaults (``SetDefaults_*Webhook``, ``_Rule``,
    ``_ServiceReference``): what ``kubectl get -o yaml`` shows and the dispatcher then reads."""
    for webhook in obj.get("webhooks") or ():
        if not isinstance(webhook, dict):
            continue
        webhook.setdefault("failurePolicy", "Fail")
        webhook.setdefault("matchPolicy", "Equivalent")
        webhook.setdefault("namespaceSelector", {})
        webhook.setdefault("objectSelector", {})
        webhook.setdefault("timeoutSeconds", 10)
        if mutating:
            webhook.setdefault("reinvocationPolicy", "Never")
        for rule in webhook.get("rules") or ():
            if isinstance(rule, dict):
                rule.setdefault("scope", "*")
        service = (webhook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)


def default_mutating_webhooks(obj: Obj, creating: bool) -> None:
    _default_webhooks(obj, mutating=True)


def default_validating_webhooks(obj: Obj, creating: bool) -> None:
    _default_webhooks(obj, mutating=False)
