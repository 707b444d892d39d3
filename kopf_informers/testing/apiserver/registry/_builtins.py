"""The built-in resources the embedded API server serves, as a real Kubernetes 1.32 describes them.

This module is data only. Discovery (``/api/v1``, ``/apis/<group>/<version>``), routing,
metadata stamping (``has_generation``), field selectors, the OpenAPI surface (``_openapi``) and
the ``kubectl get`` tables (``_tables``) all read these :class:`ResourceInfo` records, so what is
written here is what clients see:

* ``verbs``, ``short_names`` and ``categories`` are copied from kube-apiserver 1.32 discovery.
  Every resource here lists ``list``, ``watch`` and ``patch``, which Kopf requires to serve it.
  Only ``namespaces`` lacks ``deletecollection``, as in the real server.
* ``status`` and ``scale`` mark the ``/status`` and ``/scale`` subresources. The scale's label
  selector path is left ``None``: the server derives it from ``spec.selector``.
* ``has_generation`` is true exactly where the real registry stamps ``metadata.generation`` in
  1.32. HorizontalPodAutoscalers and Pods get a generation only in later releases. For webhook
  configurations the real server bumps the generation on a change of ``webhooks``, because they have
  no ``spec``.
* ``field_selectors`` are the field labels the real server accepts besides ``metadata.name`` and
  ``metadata.namespace``, spelled the way clients send them. ``events.k8s.io`` events accept
  the ``regarding.*`` spellings; ``source`` there stands for ``deprecatedSource.component``,
  falling back to ``reportingController``.

Each built-in also gets its :class:`~._strategy.ResourceStrategy` here, from one place
(:func:`builtin_strategy`): its defaults (``_defaults``), printer columns (``_printers``), merge
keys (``_merge_keys``), what DELETE answers, its name rules and whether it is simulated. A kind
the server does not ship is registered with ``EmbeddedApiServer.register(ResourceInfo(...,
strategy=ResourceStrategy(...)))``.

Custom resources do not come from here: :func:`resources_from_crd` makes them from CRD objects.
"""

from __future__ import annotations

from typing import Any

from ..admission._validation import validate_crd
from ._defaults import DEFAULTERS
from ._merge_keys import builtin_schema
from ._printers import BUILTIN_PRINTERS, EVENT_PRINTER
from ._resources import ALL_VERBS, ResourceInfo, ScaleInfo
from ._strategy import ResourceStrategy

DEFAULT_NAMESPACES: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")

# Namespaces are deleted one by one: the real server has no deletecollection for them.
_NAMESPACE_VERBS = tuple(verb for verb in ALL_VERBS if verb != "deletecollection")

_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_CORE_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_EVENTS_V1_FIELDS = (
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "source",
    "type",
)


# Kinds whose storage returns the deleted object instead of a Status (ReturnDeletedObject).
_RETURNS_DELETED_OBJECT = frozenset({
    ("", "pods"), ("", "serviceaccounts"), ("", "namespaces"), ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"), ("storage.k8s.io", "storageclasses"),
})
# Kinds whose names are DNS-1123 labels, not subdomains (they become DNS names themselves).
_LABEL_NAMED = frozenset({("", "namespaces"), ("", "services")})
# Kinds whose status the workload simulation writes (see ``_controllers``).
_SIMULATED = frozenset({("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets")})

# Kinds validated beyond their metadata (the CRD's own rules, structural schemas included).
_VALIDATORS = {("apiextensions.k8s.io", "customresourcedefinitions"): validate_crd}


def builtin_strategy(group: str, plural: str, kind: str) -> ResourceStrategy:
    """The strategy of the built-in ``plural.group`` (of kind ``kind``)."""
    key = (group, plural)
    events = plural == "events" and group in ("", "events.k8s.io")
    return ResourceStrategy(
        defaulter=DEFAULTERS.get(key),
        label_names=key in _LABEL_NAMED,
        printer=EVENT_PRINTER if events else BUILTIN_PRINTERS.get(key),
        merge_schema=builtin_schema(kind, group),
        returns_deleted=key in _RETURNS_DELETED_OBJECT,
        simulated=key in _SIMULATED,
        validator=_VALIDATORS.get(key),
    )


def _resource(group: str, version: str, plural: str, kind: str, **details: Any) -> ResourceInfo:
    details.setdefault("namespaced", True)
    return ResourceInfo(
        group=group, version=version, plural=plural, kind=kind, singular=kind.lower(),
        strategy=builtin_strategy(group, plural, kind), **details,
    )


_CORE: tuple[ResourceInfo, ...] = (
    _resource("", "v1", "namespaces", "Namespace", namespaced=False, verbs=_NAMESPACE_VERBS,
              short_names=("ns",), status=True, field_selectors=("status.phase",)),
    _resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _resource("", "v1", "secrets", "Secret", field_selectors=("type",)),
    _resource("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _resource("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
              status=True, field_selectors=("spec.clusterIP", "spec.type")),
    _resource("", "v1", "pods", "Pod", short_names=("po",), categories=("all",), status=True,
              field_selectors=_POD_FIELDS),
    _resource("", "v1", "events", "Event", short_names=("ev",), field_selectors=_CORE_EVENT_FIELDS),
    _resource("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    _resource("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), status=True,
              field_selectors=("spec.unschedulable",)),
    _resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
              status=True),
    _resource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False,
              short_names=("pv",), status=True),
    _resource("", "v1", "limitranges", "LimitRange", short_names=("limits",)),
    _resource("", "v1", "resourcequotas", "ResourceQuota", short_names=("quota",), status=True),
)

_APPS: tuple[ResourceInfo, ...] = (
    _resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",),
              categories=("all",), status=True, scale=ScaleInfo(), has_generation=True),
    _resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
              status=True, scale=ScaleInfo(), has_generation=True,
              field_selectors=("status.replicas",)),
    _resource("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",),
              categories=("all",), status=True, scale=ScaleInfo(), has_generation=True),
    _resource("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",),
              status=True, has_generation=True),
    _resource("apps", "v1", "controllerrevisions", "ControllerRevision"),
)

_BATCH: tuple[ResourceInfo, ...] = (
    _resource("batch", "v1", "jobs", "Job", categories=("all",), status=True, has_generation=True,
              field_selectors=("status.successful",)),
    _resource("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=("all",),
              status=True, has_generation=True),
)

_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

_OTHERS: tuple[ResourceInfo, ...] = (
    _resource("events.k8s.io", "v1", "events", "Event", short_names=("ev",),
              field_selectors=_EVENTS_V1_FIELDS),
    _resource("coordination.k8s.io", "v1", "leases", "Lease"),
    _resource("apiextensions.k8s.io", "v1", "customresourcedefinitions",
              "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
              categories=("api-extensions",), status=True, has_generation=True),
    _resource(_RBAC, "v1", "roles", "Role"),
    _resource(_RBAC, "v1", "rolebindings", "RoleBinding"),
    _resource(_RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False),
    _resource(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _resource("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",),
              status=True, has_generation=True),
    _resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy",
              short_names=("netpol",), has_generation=True),
    _resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
              status=True, has_generation=True),
    _resource(_ADMISSION, "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
              namespaced=False, categories=("api-extensions",), has_generation=True),
    _resource(_ADMISSION, "v1", "validatingwebhookconfigurations",
              "ValidatingWebhookConfiguration", namespaced=False,
              categories=("api-extensions",), has_generation=True),
    _resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", namespaced=False,
              short_names=("pc",)),
    _resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False,
              short_names=("sc",)),
    _resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
              short_names=("hpa",), categories=("all",), status=True),
)

BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = _CORE + _APPS + _BATCH + _OTHERS
