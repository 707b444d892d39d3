"""The built-in resources the embedded API server serves, as a real Kubernetes 1.32 describes them.

This module is data. Discovery (``/api/v1``, ``/apis/<group>/<version>``), routing,
metadata stamping (``has_generation``), field selectors, the OpenAPI surface (``_openapi``) and
the ``kubectl get`` tables (``_tables``) all read these :class:`ResourceInfo` records, so what is
written here is what clients see:

* ``verbs``, ``short_names`` and ``categories`` are copied from kube-apiserver 1.32 discovery.
  Every stored resource lists ``list``, ``watch`` and ``patch``, which Kopf requires to serve
  it; only ``namespaces`` lacks ``deletecollection``, as in the real server. The reviews of
  ``authentication.k8s.io`` and ``authorization.k8s.io`` list only ``create``: their create
  answers a question and stores nothing (``reviewer``, one of ``_reviews``).
* ``returns_deleted`` is true exactly where kube-apiserver 1.32's store sets
  ``ReturnDeletedObject`` (``pkg/registry/<group>/<kind>/storage/storage.go``): Pods, Services,
  ServiceAccounts, PersistentVolumes and their claims, ResourceQuotas, StorageClasses and
  Namespaces answer a DELETE with the object, every other kind with a ``Status``. Its OpenAPI
  says the same (the official client's typed ``delete_*`` calls return ``V1Service`` and so on),
  but for Namespaces, whose REST wrapper hides the flag: their first DELETE answers the
  Terminating namespace anyway.
* ``status`` and ``scale`` give it the ``/status`` and ``/scale`` subresources (its strategy's
  ``status_subresource`` and ``scale_subresource``). The scale's label selector path is left
  ``None``: the server derives it from ``spec.selector``.
* ``has_generation`` is true exactly where the real registry stamps ``metadata.generation`` in
  1.32. HorizontalPodAutoscalers and Pods get a generation only in later releases. For webhook
  configurations the real server bumps the generation on a change of ``webhooks``, because they have
  no ``spec``.
* ``field_selectors`` are the field labels the real server accepts besides ``metadata.name`` and
  ``metadata.namespace``, spelled the way clients send them. ``events.k8s.io`` events accept
  the ``regarding.*`` spellings; ``source`` there stands for ``deprecatedSource.component``,
  falling back to ``reportingController``.

Each built-in's :class:`~._strategy.ResourceStrategy` is written in its entry too, beside its
discovery data: its defaulter (one of ``_defaults``); its ``kubectl get`` columns and row printer
(built from ``_printers``); the lists it merges by key or as sets (built from ``_merge_keys``);
whether DELETE answers the deleted object; whether its names are DNS-1123 labels; whether the
workload simulation writes its status; its own validation; its type, the real server's
definition of the kind (``_builtin_schemas``), which decoding checks objects against. To add a
built-in kind, add one entry here (one :func:`_resource` call in its group's tuple):
``_defaults``, ``_printers`` and ``_merge_keys`` keep no per-kind tables. A kind the server
does not ship is registered with
``EmbeddedApiServer.register(ResourceInfo(..., strategy=ResourceStrategy(...)))``.

Custom resources do not come from here: :func:`resources_from_crd` makes them from CRD objects.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..admission._builtin_schemas import definition_name
from ..admission._validation import validate_crd
from ._defaults import (
    default_crd,
    default_daemonset,
    default_deployment,
    default_job,
    default_mutating_webhooks,
    default_namespace,
    default_pod,
    default_replicaset,
    default_replicationcontroller,
    default_secret,
    default_service,
    default_statefulset,
    default_validating_webhooks,
)
from ._merge_keys import (
    AS_SET,
    POD_SPEC,
    POD_STATUS,
    ListRule,
    Path,
    Schema,
    builtin_kind_schema,
    by_key,
    mount,
    pod_template_at,
)
from ._printers import (
    AGE_COLUMN,
    NAME_COLUMN,
    Printer,
    column_def,
    print_apiservice,
    print_configmap,
    print_deployment,
    print_event,
    print_lease,
    print_namespace,
    print_pod,
    print_replicaset,
    print_replicationcontroller,
    print_secret,
    print_service,
    print_statefulset,
    wide_column,
)
from ._resources import ALL_VERBS, ResourceInfo
from ._reviews import (
    Reviewer,
    self_subject_access_review,
    self_subject_review,
    self_subject_rules_review,
    subject_access_review,
    token_review,
)
from ._services import ServiceAllocator
from ._strategy import (
    AllocatorFactory,
    Columns,
    ConnectSubresource,
    Defaulter,
    ResourceStrategy,
    ScaleInfo,
    Validator,
)

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


# A Pod's container subresources; answered at once, as no container runs (``connect``).
_POD_CONNECT: Mapping[str, ConnectSubresource] = {
    "attach": ("PodAttachOptions", ("create", "get")),
    "exec": ("PodExecOptions", ("create", "get")),
    "log": ("Pod", ("get",)),
    "portforward": ("PodPortForwardOptions", ("create", "get")),
}

_CONTAINERS = wide_column("Containers", "Names of each container in the template.")
_IMAGES = wide_column("Images", "Images referenced by each container in the template.")
_SELECTOR = wide_column("Selector", "The label selector of the pods.")
# ReplicaSets and ReplicationControllers print alike.
_REPLICA_COLUMNS = (
    NAME_COLUMN,
    column_def("Desired", "integer", "Desired replicas."),
    column_def("Current", "integer", "Observed replicas."),
    column_def("Ready", "integer", "Ready replicas."),
    AGE_COLUMN, _CONTAINERS, _IMAGES, _SELECTOR,
)
# Both kinds of events print alike: the real server prints them from one internal type.
_EVENT_COLUMNS = (
    column_def("Last Seen", "string", "When the event was last observed."),
    column_def("Type", "string", "The type of the event: Normal or Warning."),
    column_def("Reason", "string", "Why the event happened, in CamelCase."),
    column_def("Object", "string", "The object the event is about."),
    wide_column("Subobject", "The part of the object the event is about."),
    wide_column("Source", "The component that reported the event."),
    column_def("Message", "string", "A human-readable description."),
    wide_column("First Seen", "When the event was first observed."),
    wide_column("Count", "How many times the event was observed."),
    {**wide_column("Name", "The name of the event object."), "format": "name"},
)


def _resource(
    group: str, version: str, plural: str, kind: str, *,
    defaulter: Defaulter | None = None,
    columns: Columns = (),
    cells: Printer | None = None,
    merge_lists: Mapping[Path, ListRule] | None = None,
    returns_deleted: bool = False,
    label_names: bool = False,
    simulated: bool = False,
    validator: Validator | None = None,
    status: bool = False,
    scale: ScaleInfo | None = None,
    reviewer: Reviewer | None = None,
    connect: Mapping[str, ConnectSubresource] | None = None,
    allocator: AllocatorFactory | None = None,
    **details: Any,
) -> ResourceInfo:
    """One built-in: its discovery data (``details``) and its strategy, in one entry.

    ``columns`` and ``cells`` are its ``kubectl get`` columns and row printer (none: names and
    ages only); ``merge_lists`` its lists beyond ``metadata`` merged by key or as sets (all others
    are atomic); ``returns_deleted`` that DELETE answers the deleted object, not a Status
    (``ReturnDeletedObject``); ``label_names`` that its names are DNS-1123 labels, not subdomains
    (they become DNS names themselves); ``simulated`` that the workload simulation writes its
    status (see ``_controllers``); ``validator`` its validation beyond its metadata; ``status``
    and ``scale`` its ``/status`` and ``/scale`` subresources; ``connect`` those that would
    reach a container; ``allocator`` what allocates its addresses.
    """
    details.setdefault("namespaced", True)
    strategy = ResourceStrategy(
        defaulter=defaulter,
        label_names=label_names,
        printer=(columns, cells) if cells is not None else None,
        merge_schema=builtin_kind_schema(group, merge_lists or {}),
        returns_deleted=returns_deleted,
        simulated=simulated,
        validator=validator,
        status_subresource=status,
        scale_subresource=scale,
        reviewer=reviewer,
        connect_subresources=connect or {},
        allocator=allocator,
        definition=definition_name(group, version, kind),
    )
    return ResourceInfo(
        group=group, version=version, plural=plural, kind=kind, singular=kind.lower(),
        strategy=strategy, **details,
    )


_CORE: tuple[ResourceInfo, ...] = (
    _resource("", "v1", "namespaces", "Namespace", namespaced=False, verbs=_NAMESPACE_VERBS,
              short_names=("ns",), status=True, field_selectors=("status.phase",),
              defaulter=default_namespace, returns_deleted=True, label_names=True,
              columns=(NAME_COLUMN, column_def("Status", "string", "The phase of the namespace."),
                       AGE_COLUMN),
              cells=print_namespace),
    _resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",),
              columns=(NAME_COLUMN, column_def("Data", "string", "The number of data keys."),
                       AGE_COLUMN),
              cells=print_configmap),
    _resource("", "v1", "secrets", "Secret", field_selectors=("type",), defaulter=default_secret,
              columns=(NAME_COLUMN, column_def("Type", "string", "The type of the secret."),
                       column_def("Data", "string", "The number of data keys."), AGE_COLUMN),
              cells=print_secret),
    _resource("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",),
              returns_deleted=True, merge_lists={("secrets",): by_key("name")}),
    _resource("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
              status=True, field_selectors=("spec.clusterIP", "spec.type"),
              defaulter=default_service, label_names=True, returns_deleted=True,
              allocator=ServiceAllocator,
              merge_lists={("spec", "ports"): by_key("port")},
              columns=(
                  NAME_COLUMN,
                  column_def("Type", "string", "How the service is exposed."),
                  column_def("Cluster-IP", "string", "The service's IP address in the cluster."),
                  column_def("External-IP", "string",
                             "Addresses the service is reachable at from outside."),
                  column_def("Port(s)", "string", "The ports the service exposes."),
                  AGE_COLUMN, wide_column("Selector", "The label selector of the backing pods."),
              ),
              cells=print_service),
    _resource("", "v1", "pods", "Pod", short_names=("po",), categories=("all",), status=True,
              field_selectors=_POD_FIELDS, defaulter=default_pod, returns_deleted=True,
              connect=_POD_CONNECT,
              merge_lists={**mount(("spec",), POD_SPEC), **mount(("status",), POD_STATUS)},
              columns=(
                  NAME_COLUMN,
                  column_def("Ready", "string", "Ready containers out of all containers."),
                  column_def("Status", "string",
                             "The aggregate status of the containers in this pod."),
                  column_def("Restarts", "string",
                             "Container restarts, and how long ago the last one was."),
                  AGE_COLUMN,
                  wide_column("IP", "The pod's IP address."),
                  wide_column("Node", "The node the pod is bound to."),
                  wide_column("Nominated Node", "The node the scheduler nominated for preemption."),
                  wide_column("Readiness Gates",
                              "Readiness gates that are true, out of all of them."),
              ),
              cells=print_pod),
    _resource("", "v1", "events", "Event", short_names=("ev",), field_selectors=_CORE_EVENT_FIELDS,
              columns=_EVENT_COLUMNS, cells=print_event),
    _resource("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    _resource("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), status=True,
              field_selectors=("spec.unschedulable",),
              merge_lists={("spec", "podCIDRs"): AS_SET, ("status", "addresses"): by_key("type")}),
    _resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
              status=True, returns_deleted=True),
    _resource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False,
              short_names=("pv",), status=True, returns_deleted=True),
    _resource("", "v1", "limitranges", "LimitRange", short_names=("limits",)),
    _resource("", "v1", "resourcequotas", "ResourceQuota", short_names=("quota",), status=True,
              returns_deleted=True),
    _resource("", "v1", "replicationcontrollers", "ReplicationController", short_names=("rc",),
              categories=("all",), status=True, scale=ScaleInfo(selector_is_map=True),
              has_generation=True, field_selectors=("status.replicas",),
              defaulter=default_replicationcontroller,
              merge_lists=pod_template_at("spec", "template"),
              columns=_REPLICA_COLUMNS,
              cells=print_replicationcontroller),
)

_APPS: tuple[ResourceInfo, ...] = (
    _resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",),
              categories=("all",), status=True, scale=ScaleInfo(), has_generation=True,
              defaulter=default_deployment, simulated=True,
              merge_lists=pod_template_at("spec", "template"),
              columns=(
                  NAME_COLUMN,
                  column_def("Ready", "string", "Ready replicas out of desired replicas."),
                  column_def("Up-to-date", "string", "Replicas running the newest template."),
                  column_def("Available", "string", "Replicas available to serve."),
                  AGE_COLUMN, _CONTAINERS, _IMAGES, _SELECTOR,
              ),
              cells=print_deployment),
    _resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
              status=True, scale=ScaleInfo(), has_generation=True,
              field_selectors=("status.replicas",), defaulter=default_replicaset, simulated=True,
              merge_lists=pod_template_at("spec", "template"),
              columns=_REPLICA_COLUMNS,
              cells=print_replicaset),
    _resource("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",),
              categories=("all",), status=True, scale=ScaleInfo(), has_generation=True,
              defaulter=default_statefulset, simulated=True,
              merge_lists=pod_template_at("spec", "template"),
              columns=(
                  NAME_COLUMN,
                  column_def("Ready", "string", "Ready replicas out of desired replicas."),
                  AGE_COLUMN, _CONTAINERS, _IMAGES,
              ),
              cells=print_statefulset),
    _resource("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",),
              status=True, has_generation=True, defaulter=default_daemonset,
              merge_lists=pod_template_at("spec", "template")),
    _resource("apps", "v1", "controllerrevisions", "ControllerRevision"),
)

_BATCH: tuple[ResourceInfo, ...] = (
    _resource("batch", "v1", "jobs", "Job", categories=("all",), status=True, has_generation=True,
              field_selectors=("status.successful",), defaulter=default_job,
              merge_lists=pod_template_at("spec", "template")),
    _resource("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=("all",),
              status=True, has_generation=True,
              merge_lists=pod_template_at("spec", "jobTemplate", "spec", "template")),
)

_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"
_AUTHN = "authentication.k8s.io"
_AUTHZ = "authorization.k8s.io"
_CREATE_ONLY = ("create",)

_OTHERS: tuple[ResourceInfo, ...] = (
    _resource("events.k8s.io", "v1", "events", "Event", short_names=("ev",),
              field_selectors=_EVENTS_V1_FIELDS, columns=_EVENT_COLUMNS, cells=print_event),
    _resource("coordination.k8s.io", "v1", "leases", "Lease",
              columns=(NAME_COLUMN,
                       column_def("Holder", "string", "The current holder of the lease."),
                       AGE_COLUMN),
              cells=print_lease),
    _resource("apiextensions.k8s.io", "v1", "customresourcedefinitions",
              "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
              categories=("api-extensions",), status=True, has_generation=True,
              defaulter=default_crd, validator=validate_crd),
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
              namespaced=False, categories=("api-extensions",), has_generation=True,
              defaulter=default_mutating_webhooks),
    _resource(_ADMISSION, "v1", "validatingwebhookconfigurations",
              "ValidatingWebhookConfiguration", namespaced=False,
              categories=("api-extensions",), has_generation=True,
              defaulter=default_validating_webhooks),
    _resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", namespaced=False,
              short_names=("pc",)),
    _resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False,
              short_names=("sc",), returns_deleted=True),
    _resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
              short_names=("hpa",), categories=("all",), status=True),
    _resource("apiregistration.k8s.io", "v1", "apiservices", "APIService", namespaced=False,
              categories=("api-extensions",), status=True,
              columns=(
                  NAME_COLUMN,
                  column_def("Service", "string",
                             "The reference to the service that hosts this API endpoint."),
                  column_def("Available", "string", "Whether this service is available."),
                  AGE_COLUMN,
              ),
              cells=print_apiservice),
    _resource(_AUTHN, "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False,
              verbs=_CREATE_ONLY, reviewer=self_subject_review),
    _resource(_AUTHN, "v1", "tokenreviews", "TokenReview", namespaced=False,
              verbs=_CREATE_ONLY, reviewer=token_review),
    _resource(_AUTHZ, "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
              namespaced=True, verbs=_CREATE_ONLY, reviewer=subject_access_review),
    _resource(_AUTHZ, "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
              namespaced=False, verbs=_CREATE_ONLY, reviewer=self_subject_access_review),
    _resource(_AUTHZ, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
              namespaced=False, verbs=_CREATE_ONLY, reviewer=self_subject_rules_review),
    _resource(_AUTHZ, "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False,
              verbs=_CREATE_ONLY, reviewer=subject_access_review),
)

BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = _CORE + _APPS + _BATCH + _OTHERS

# Kinds the server does not serve, whose lists strategic merge and apply still know (a kind
# registered under these names without a merge schema of its own merges by them).
_UNSERVED_MERGE_LISTS: Mapping[tuple[str, str], Mapping[Path, ListRule]] = {
    ("", "PodTemplate"): pod_template_at("template"),
}


@functools.cache
def builtin_schema(kind: str, group: str) -> Schema | None:
    """The merge schema of the built-in ``kind`` of ``group``; ``None`` for custom resources.

    What strategic merge and apply fall back to when a resource's strategy names no schema.
    """
    for info in BUILTIN_RESOURCES:
        if (info.group, info.kind) == (group, kind):
            return info.strategy.merge_schema
    return builtin_kind_schema(group, _UNSERVED_MERGE_LISTS.get((group, kind), {}))
